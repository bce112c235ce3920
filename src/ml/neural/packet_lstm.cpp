#include "ml/neural/packet_lstm.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "ml/neural/weights_file.h"

namespace netsentry::ml::neural {
namespace {

constexpr std::string_view kName = "lstm";

class PacketLstm final : public Model {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }
  [[nodiscard]] bool reads_packets() const override { return true; }
  void set_threads(int threads) override { threads_ = std::max(1, threads); }

  void fit(const TrainSet&, const TrainContext&) override {
    throw core::Error("lstm: this is the scorer loaded without LibTorch; training needs it");
  }

  using Model::score;
  [[nodiscard]] std::vector<float> score(const ScoreInput& input) const override {
    return score_packet_flows(kernel_, input, features_, max_packets_, threads_);
  }

  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path&) const override {
    throw core::Error(
        "lstm: loaded from its plain weights for scoring; saving a bundle writes the LibTorch "
        "model (load it through LibTorch)");
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    const Sidecar sidecar = read_sidecar(dir, file, kName, expected_features, kLstmFormatVersion);
    if (lstm_input(sidecar) != "packets") {
      throw core::Error(fmt::format(
          "{}: a row-sequence LSTM (input \"rows\") is scored through LibTorch only; its bundle "
          "must not list plain weights",
          sidecar.path.string()));
    }
    const auto hidden = static_cast<std::size_t>(
        option_int(sidecar.options, "packet_hidden_size", sidecar.path, 1, 4096));
    const auto max_packets =
        static_cast<std::size_t>(option_int(sidecar.options, "max_packets", sidecar.path, 1, 1024));
    const std::size_t gates = 4 * hidden;
    const TensorSpec expected[] = {{"lstm.weight_ih_l0", {gates, kPacketStepFeatures}},
                                   {"lstm.weight_hh_l0", {gates, hidden}},
                                   {"lstm.bias_ih_l0", {gates}},
                                   {"lstm.bias_hh_l0", {gates}},
                                   {"head.weight", {1, hidden}},
                                   {"head.bias", {1}}};
    const std::vector<Tensor> t = read_weights(dir / file, expected, sidecar.path);
    PacketLstmKernel kernel;
    kernel.set_weights(hidden, t[0].values, t[1].values, t[2].values, t[3].values, t[4].values,
                       t[5].values[0]);
    kernel_ = std::move(kernel);
    max_packets_ = max_packets;
    features_ = sidecar.features;
    threshold_ = sidecar.threshold;
  }

 private:
  PacketLstmKernel kernel_;
  std::size_t max_packets_ = 0;
  std::size_t features_ = 0;
  float threshold_ = 0.5f;
  int threads_ = 1;
};

}  // namespace

std::string_view lstm_input(const Sidecar& sidecar) {
  const auto input = sidecar.options.find("input");
  if (input == sidecar.options.end()) return "rows";
  if (input->is_string() && input->get<std::string>() == "rows") return "rows";
  if (input->is_string() && input->get<std::string>() == "packets") return "packets";
  throw core::Error(
      fmt::format("{}: option \"input\" must be \"rows\" or \"packets\"", sidecar.path.string()));
}

std::vector<float> score_packet_flows(const PacketLstmKernel& kernel, const ScoreInput& input,
                                      std::size_t features, std::size_t max_packets, int threads) {
  check_score_input(kName, input.x, {}, features);
  if (input.packets.rows() != input.x.rows) {
    throw core::Error(fmt::format(
        "lstm: scores flows by their first packets, but {} of {} rows carry a packet sequence",
        input.packets.rows(), input.x.rows));
  }
  std::vector<float> out(input.x.rows);
  // A flow without packets gives no evidence either way: the lowest score (the kernel's 0).
  kernel.score(input.packets, max_packets, out, threads);
  return out;
}

std::unique_ptr<Model> make_packet_lstm() { return std::make_unique<PacketLstm>(); }

}  // namespace netsentry::ml::neural
