// libFuzzer entry point for ml::Bundle::load: the manifest and each model file of a bundle.
// A small valid bundle (Isolation Forest + Random Forest, fitted ensemble, and an autoencoder in
// its torch-free form: sidecar JSON + plain weights file, random weights written here since this
// build has no LibTorch) is made once at start; each input then replaces one of its files, either
// with the input's raw bytes (the JSON parsers, the weights reader) or with the valid file after a
// few structural edits the input describes (JSON: a node replaced by a number, a string, null, an
// empty array or object, removed, or an array truncated or duplicated; the weights file: bytes
// overwritten at chosen offsets, the file cut short or grown): the way a hostile or corrupted
// bundle reaches our validation instead of stopping at the first parser. Loading must either
// succeed or throw core::Error (anything else escapes and libFuzzer reports it); a bundle that
// loads must score rows (with missing values) without crashing or hanging. Built only by the `fuzz`
// preset (no LibTorch there).
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/preprocess.h"
#include "ml/bundle.h"
#include "ml/isolation_forest.h"
#include "ml/neural/weights_file.h"
#include "ml/random_forest.h"

namespace {

namespace fs = std::filesystem;
using netsentry::data::Column;
using netsentry::data::ColumnKind;
using netsentry::data::Dataset;
using nlohmann::json;

constexpr std::array<const char*, 5> kFiles = {"manifest.json", "isolation_forest.json",
                                               "random_forest.json", "autoencoder.json",
                                               "autoencoder.weights"};
constexpr std::size_t kWeightsFile = 4;  // binary: byte edits instead of JSON edits

struct Seed {
  Seed() = default;
  Seed(Seed&&) = default;
  ~Seed() {
    std::error_code ec;
    if (!work.empty()) fs::remove_all(work, ec);
  }
  fs::path work;  // temporary folder: good/ and bundle/ (each input)
  std::array<std::string, kFiles.size()> contents;  // the valid files, kFiles order
  netsentry::data::Matrix rows;                     // rows to score a bundle that loads
};

Dataset toy_data(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Dataset d;
  for (const char* name : {"Duration", "PacketCount", "ByteCount"}) {
    Column c;
    c.name = name;
    d.columns.push_back(std::move(c));
  }
  Column proto;
  proto.name = "Protocol";
  proto.kind = ColumnKind::kCategorical;
  proto.levels = {"tcp", "udp"};
  for (std::size_t i = 0; i < rows; ++i) {
    const bool attack = i % 4 == 0;
    // Overlapping classes, so the forest grows trees a few levels deep.
    const float packets = attack ? 30 + 3000 * u(rng) : 2 + 400 * u(rng);
    d.columns[0].values.push_back(attack ? 5.0f * u(rng) : 30 * u(rng));
    d.columns[1].values.push_back(packets);
    d.columns[2].values.push_back(packets * (attack ? 40 + 300 * u(rng) : 200 + 1000 * u(rng)));
    proto.codes.push_back(u(rng) < 0.7f ? 0 : 1);
    d.y.push_back(attack ? 1 : 0);
    d.origin.push_back({0, static_cast<std::uint32_t>(i + 2)});
  }
  d.columns.push_back(std::move(proto));
  d.files = {"toy.csv"};
  d.format = "original";
  return d;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// Reads bytes from the input, zeros past its end.
struct Reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos = 0;
  std::uint8_t byte() { return pos < size ? data[pos++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | byte();
    return v;
  }
  bool done() const { return pos >= size; }
};

// An autoencoder of `features` inputs (layer widths 4, 2) as a bundle saved with plain weights
// holds it, with random weights; listed in the manifest (not used by the ensemble, so a bundle
// whose autoencoder loads still scores).
void add_plain_autoencoder(const fs::path& dir, std::size_t features) {
  namespace neural = netsentry::ml::neural;
  const std::vector<std::size_t> sizes = {features, 4, 2, 4, features};
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0.0f, 0.5f);
  std::vector<neural::Tensor> tensors;
  json parameters = json::array();
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const std::string layer = "layers." + std::to_string(2 * i);
    neural::Tensor w{layer + ".weight", {sizes[i + 1], sizes[i]}, {}};
    neural::Tensor bias{layer + ".bias", {sizes[i + 1]}, {}};
    w.values.resize(sizes[i + 1] * sizes[i]);
    bias.values.resize(sizes[i + 1]);
    for (float& v : w.values) v = n(rng);
    for (float& v : bias.values) v = n(rng);
    for (const auto* t : {&w, &bias})
      parameters.push_back({{"name", t->name}, {"shape", t->shape}});
    tensors.push_back(std::move(w));
    tensors.push_back(std::move(bias));
  }
  neural::write_weights(dir / "autoencoder.weights", tensors);
  const json sidecar = {{"format_version", 1},
                        {"model", "autoencoder"},
                        {"features", features},
                        {"threshold", 0.5},
                        {"parameters_file", "autoencoder.pt"},
                        {"weights_file", "autoencoder.weights"},
                        {"options", {{"layer_widths", {4, 2}}, {"score_batch", 16}}},
                        {"parameters", parameters}};
  write_file(dir / "autoencoder.json", sidecar.dump(2));
  write_file(dir / "autoencoder.pt", "not read: the plain weights are listed");
  json manifest = json::parse(read_file(dir / "manifest.json"));
  manifest["models"]["autoencoder"] = {
      {"file", "autoencoder.pt"}, {"weights", "autoencoder.weights"}, {"threshold", 0.5}};
  write_file(dir / "manifest.json", manifest.dump(2));
}

// Byte edits of a binary file, chosen by the next input bytes: overwrite a byte, cut the file
// short, or append bytes.
void edit_bytes(std::string& bytes, Reader& r) {
  switch (r.byte() % 4) {
    case 0:
      bytes.resize(bytes.empty() ? 0 : r.u32() % bytes.size());
      break;
    case 1:
      bytes.push_back(static_cast<char>(r.byte()));
      break;
    default:
      if (!bytes.empty()) bytes[r.u32() % bytes.size()] = static_cast<char>(r.byte());
      break;
  }
}

Seed make_seed() {
  Seed s;  // returned by copy elision: its destructor runs once, at exit
  char tmpl[] = "/tmp/ns-bundle-fuzz-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  s.work = tmpl;
  const fs::path good = s.work / "good";
  fs::create_directories(s.work / "bundle");

  namespace ml = netsentry::ml;
  ml::Bundle b;
  const Dataset train = toy_data(400, 1);
  const Dataset val = toy_data(200, 2);
  b.preprocessor.fit(train);
  const auto x = b.preprocessor.transform(train);
  const auto xv = b.preprocessor.transform(val);
  ml::TrainSet set;
  set.x = &x;
  set.y = train.y;
  set.x_val = &xv;
  set.y_val = val.y;
  ml::TrainContext ctx;
  ml::IsolationForestOptions io;
  io.n_trees = 4;
  io.max_samples = 32;
  ml::RandomForestOptions ro;
  ro.trees = 3;
  ro.max_depth = 3;
  b.models.push_back(std::make_unique<ml::IsolationForest>(io));
  b.models.push_back(std::make_unique<ml::RandomForest>(ro));
  ml::ModelScores val_scores;
  for (auto& m : b.models) {
    m->fit(set, ctx);
    b.ensemble.set_model_threshold(std::string(m->name()), m->threshold());
    val_scores.emplace(std::string(m->name()), m->score(xv));
  }
  b.ensemble.fit(val_scores, val.y);
  b.ensemble.set_mode(ml::EnsembleMode::kTail);
  b.save(good);
  add_plain_autoencoder(good, b.preprocessor.output_size());
  // The seed itself must load with its autoencoder, or every input would only test refusals.
  if (ml::Bundle::load(good, 1).find("autoencoder") == nullptr) std::abort();
  for (std::size_t i = 0; i < kFiles.size(); ++i) s.contents[i] = read_file(good / kFiles[i]);
  write_file(s.work / "bundle" / "autoencoder.pt", "not read: the plain weights are listed");
  s.rows = b.preprocessor.transform(toy_data(64, 3));
  for (std::size_t i = 0; i < s.rows.values.size(); i += 7) {
    s.rows.values[i] = std::numeric_limits<float>::quiet_NaN();
  }
  return s;
}

Seed& seed() {
  static Seed s = make_seed();
  return s;
}

void collect(json& j, std::vector<json*>& out) {
  out.push_back(&j);
  if (j.is_object() || j.is_array()) {
    for (auto& child : j) collect(child, out);
  }
}

// One structural edit of `doc`, chosen by the next input bytes.
void edit(json& doc, Reader& r) {
  std::vector<json*> nodes;
  collect(doc, nodes);
  json& node = *nodes[r.u32() % nodes.size()];
  switch (r.byte() % 12) {
    case 0:
      node = static_cast<std::int64_t>(static_cast<std::int32_t>(r.u32()));
      break;
    case 1:
      node = -1;
      break;
    case 2:
      node = std::int64_t{1} << (r.byte() % 63);
      break;
    case 3: {
      const std::uint64_t bits = static_cast<std::uint64_t>(r.u32()) << 32 | r.u32();
      double d = 0;
      std::memcpy(&d, &bits, sizeof d);
      node = std::isfinite(d) ? d : 1e308;
      break;
    }
    case 4:
      node = "x";
      break;
    case 5:
      node = nullptr;
      break;
    case 6:
      node = json::array();
      break;
    case 7:
      node = json::object();
      break;
    case 8:
      node = r.byte() % 2 == 0;
      break;
    case 9:  // remove a member or an element
      if (node.is_object() && !node.empty()) {
        auto it = node.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(r.byte() % node.size()));
        node.erase(it);
      } else if (node.is_array() && !node.empty()) {
        node.erase(r.byte() % node.size());
      }
      break;
    case 10:  // truncate an array
      if (node.is_array()) {
        const std::size_t keep = node.empty() ? 0 : r.byte() % node.size();
        json cut = json::array();
        for (std::size_t i = 0; i < keep; ++i) cut.push_back(node[i]);
        node = std::move(cut);
      }
      break;
    default:  // duplicate an element (arrays grow out of step with their siblings)
      if (node.is_array() && !node.empty()) node.push_back(node[r.byte() % node.size()]);
      break;
  }
}

}  // namespace

// One OpenMP thread: XGBoost's loader starts a parallel region per model, and thread start-up
// would otherwise dominate each run (read by libgomp at its first use, after this).
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Seed& s = seed();
  if (size == 0) return 0;
  Reader r{data, size};
  const std::uint8_t head = r.byte();
  const std::size_t target = head % kFiles.size();
  const bool raw = (head / kFiles.size()) % 2 == 1;

  std::array<std::string, kFiles.size()> files = s.contents;
  if (raw) {
    files[target].assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else if (target == kWeightsFile) {
    const int edits = 1 + r.byte() % 4;
    for (int i = 0; i < edits && !r.done(); ++i) edit_bytes(files[target], r);
  } else {
    json doc = json::parse(s.contents[target]);
    const int edits = 1 + r.byte() % 4;
    for (int i = 0; i < edits && !r.done(); ++i) edit(doc, r);
    files[target] = doc.dump();
  }
  const fs::path dir = s.work / "bundle";
  for (std::size_t i = 0; i < kFiles.size(); ++i) write_file(dir / kFiles[i], files[i]);

  try {
    const netsentry::ml::Bundle b = netsentry::ml::Bundle::load(dir, 1);
    (void)b.score(s.rows);
  } catch (const netsentry::core::Error&) {
    // Refused (or refused to score) with a message: what must happen to a bad bundle.
  }
  return 0;
}
