#include "ml/torch/torch_common.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>

#include "core/error.h"
#include "ml/neural/weights_file.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using ::torch::Tensor;

std::vector<Tensor> snapshot(::torch::nn::Module& module) {
  std::vector<Tensor> out;
  for (const auto& p : module.parameters()) out.push_back(p.detach().clone());
  return out;
}

void restore(::torch::nn::Module& module, const std::vector<Tensor>& saved) {
  ::torch::NoGradGuard no_grad;
  auto params = module.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
}

void set_learning_rate(::torch::optim::Adam& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<::torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

std::string shape_string(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(sizes[i]);
  }
  return s + "]";
}

// c10::Error messages carry a multi-line C++ backtrace; users get the first line only.
std::string first_line(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// The tensors as ml/neural/weights_file.h writes them: float32, contiguous, with their names.
void write_plain_weights(const std::filesystem::path& path, const std::vector<std::string>& names,
                         const std::vector<Tensor>& tensors) {
  std::vector<neural::Tensor> plain(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor t = tensors[i].detach().to(::torch::kFloat32).contiguous();
    plain[i].name = names[i];
    for (const auto d : t.sizes()) plain[i].shape.push_back(static_cast<std::size_t>(d));
    plain[i].values.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  neural::write_weights(path, plain);
}

}  // namespace

void export_weights(const std::filesystem::path& dir, const std::string& file) {
  const std::filesystem::path pt = dir / file;
  const std::filesystem::path sidecar = neural::sidecar_path(dir, file);
  std::ifstream in(sidecar);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw core::Error(fmt::format("{}: not valid JSON ({})", sidecar.string(), e.what()));
  }
  std::vector<std::string> names;
  const auto params = doc.value("parameters", nlohmann::json());
  if (params.is_array()) {
    for (const auto& p : params) {
      if (p.is_object() && p.contains("name") && p.at("name").is_string()) {
        names.push_back(p.at("name").get<std::string>());
      }
    }
  }
  std::vector<Tensor> tensors;
  try {
    ::torch::load(tensors, pt.string());
  } catch (const std::exception& e) {
    throw core::Error(
        fmt::format("{}: cannot read LibTorch parameters: {}", pt.string(), torch_error_line(e)));
  }
  if (names.size() != tensors.size() || !params.is_array() || params.size() != names.size()) {
    throw core::Error(fmt::format("{}: \"parameters\" names {} tensors, {} holds {}",
                                  sidecar.string(), names.size(), pt.string(), tensors.size()));
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (params[i].value("shape", nlohmann::json()) != nlohmann::json(tensors[i].sizes().vec())) {
      throw core::Error(fmt::format("{}: parameter '{}' has shape {}, {} says {}", pt.string(),
                                    names[i], shape_string(tensors[i].sizes()), sidecar.string(),
                                    params[i].value("shape", nlohmann::json()).dump()));
    }
  }
  write_plain_weights(neural::weights_path(dir, file), names, tensors);
}

void set_torch_threads(int n) {
  if (n < 1) throw core::Error(fmt::format("torch threads must be at least 1, got {}", n));
  at::set_num_threads(n);
  // The inter-op pool can be sized only before it starts; later calls keep the first size.
  static std::once_flag interop_once;
  std::call_once(interop_once, [n] {
    try {
      at::set_num_interop_threads(n);
    } catch (const c10::Error&) {
    }
  });
  // Debian's torch calls the system OpenBLAS, whose own pthread pool defaults to every core and
  // would compete with LibTorch's OpenMP team on the same cores; only the intra-op team is sized.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(1);
  }
}

double evaluate_loss(::torch::nn::Module& module, const Split& split, int batch_size) {
  ::torch::NoGradGuard no_grad;
  const bool was_training = module.is_training();
  module.eval();
  double sum = 0.0;
  const std::size_t step = static_cast<std::size_t>(std::max(1, batch_size));
  for (std::size_t b = 0; b < split.rows.size(); b += step) {
    const std::size_t n = std::min(step, split.rows.size() - b);
    sum += split.loss({split.rows.data() + b, n}).item<double>() * static_cast<double>(n);
  }
  module.train(was_training);
  return split.rows.empty() ? 0.0 : sum / static_cast<double>(split.rows.size());
}

TrainSummary run_training(::torch::nn::Module& module, const LoopSettings& settings,
                          const Split& train, const Split& val, const TrainContext& ctx) {
  if (train.rows.empty()) {
    throw core::Error(fmt::format("{}: no rows to train on", settings.model_name));
  }
  ::torch::optim::Adam optimizer(module.parameters(),
                                 ::torch::optim::AdamOptions(settings.learning_rate));
  // Distinct stream from torch's generator (seeded with the same value for weight init).
  std::mt19937_64 rng(ctx.seed ^ 0x5eed'ba7c'4e5dULL);
  std::vector<std::size_t> order = train.rows;
  const std::size_t step = static_cast<std::size_t>(std::max(1, settings.batch_size));

  double lr = settings.learning_rate;
  double best = std::numeric_limits<double>::infinity();
  int epochs_without_improvement = 0;
  int plateau_epochs = 0;
  std::vector<Tensor> best_weights = snapshot(module);
  const auto start = std::chrono::steady_clock::now();
  TrainSummary summary;

  for (int epoch = 1; epoch <= settings.epochs; ++epoch) {
    module.train();
    std::shuffle(order.begin(), order.end(), rng);
    double sum = 0.0;
    for (std::size_t b = 0; b < order.size(); b += step) {
      const std::size_t n = std::min(step, order.size() - b);
      optimizer.zero_grad();
      Tensor loss = train.loss({order.data() + b, n});
      loss.backward();
      optimizer.step();
      sum += loss.item<double>() * static_cast<double>(n);
    }
    const double train_loss = sum / static_cast<double>(order.size());
    const double val_loss = val.rows.empty() ? train_loss : evaluate_loss(module, val, step);
    if (!std::isfinite(train_loss) || !std::isfinite(val_loss)) {
      throw core::Error(fmt::format(
          "{}: training diverged at epoch {} (loss is not finite); check the input for NaN or "
          "infinite values",
          settings.model_name, epoch));
    }
    summary.epochs_run = epoch;

    // Same relative threshold as PyTorch's ReduceLROnPlateau default, so noise is not progress.
    const bool improved = val_loss < best - 1e-4 * std::abs(best) || !std::isfinite(best);
    if (improved) {
      best = val_loss;
      best_weights = snapshot(module);
      epochs_without_improvement = 0;
      plateau_epochs = 0;
    } else {
      ++epochs_without_improvement;
    }
    const bool stop = epochs_without_improvement >= settings.patience;

    if (ctx.progress) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = stop ? 0.0 : elapsed / epoch * (settings.epochs - epoch);
      ctx.progress(
          fmt::format("{} epoch {}/{} loss {:.4f} val_loss {:.4f} lr {:.3g} {:.1f}s (eta "
                      "{:.0f}s){}",
                      settings.model_name, epoch, settings.epochs, train_loss, val_loss, lr,
                      elapsed, eta, stop ? " early stop" : ""));
    }
    if (stop) break;
    if (!improved && ++plateau_epochs > settings.lr_patience && settings.lr_factor < 1.0f) {
      lr *= settings.lr_factor;
      set_learning_rate(optimizer, lr);
      plateau_epochs = 0;
    }
  }
  restore(module, best_weights);
  module.eval();
  summary.best_loss = best;
  return summary;
}

void hold_out(std::size_t n, float fraction, std::uint64_t seed, std::vector<std::size_t>& train,
              std::vector<std::size_t>& val) {
  train.resize(n);
  for (std::size_t i = 0; i < n; ++i) train[i] = i;
  val.clear();
  const auto k = static_cast<std::size_t>(std::floor(static_cast<double>(n) * fraction));
  // Below ~10 held-out rows the validation loss is too noisy to stop on; train on everything.
  if (k < 10 || k >= n) return;
  std::mt19937_64 rng(seed);
  std::shuffle(train.begin(), train.end(), rng);
  val.assign(train.end() - static_cast<std::ptrdiff_t>(k), train.end());
  train.resize(n - k);
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
}

::torch::Tensor gather_rows(const data::Matrix& x, std::span<const std::size_t> rows) {
  Tensor t =
      ::torch::empty({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(x.cols)},
                     ::torch::kFloat32);
  float* dst = t.data_ptr<float>();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst + i * x.cols, x.data() + rows[i] * x.cols, x.cols * sizeof(float));
  }
  return t;
}

float percentile(std::vector<float> values, float pct) {
  if (values.empty()) return 0.0f;
  std::sort(values.begin(), values.end());
  const double rank =
      std::clamp(pct, 0.0f, 100.0f) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return static_cast<float>(values[lo] + (values[hi] - values[lo]) * frac);
}

void check_train_set(std::string_view model, const TrainSet& train, bool labels_required) {
  if (train.x == nullptr || train.x->rows == 0 || train.x->cols == 0) {
    throw core::Error(fmt::format("{}: the training set is empty", model));
  }
  const data::Matrix& x = *train.x;
  if (x.values.size() != x.rows * x.cols) {
    throw core::Error(fmt::format("{}: training matrix holds {} values, expected {} x {}", model,
                                  x.values.size(), x.rows, x.cols));
  }
  if (labels_required && train.y.empty()) {
    throw core::Error(fmt::format("{}: training needs labels (0 normal / 1 attack)", model));
  }
  auto check_size = [&](std::size_t got, std::size_t rows, const char* what, const char* part) {
    if (got != 0 && got != rows) {
      throw core::Error(fmt::format("{}: {} {} for {} {} rows", model, got, what, rows, part));
    }
  };
  auto check_labels = [&](std::span<const int> y, const char* part) {
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (y[i] != 0 && y[i] != 1) {
        throw core::Error(
            fmt::format("{}: {} label at row {} is {}, expected 0 or 1", model, part, i, y[i]));
      }
    }
  };
  check_size(train.y.size(), x.rows, "labels", "training");
  check_size(train.weights.size(), x.rows, "weights", "training");
  check_size(train.group.size(), x.rows, "group ids", "training");
  check_labels(train.y, "training");
  if (train.x_val != nullptr && train.x_val->rows > 0) {
    const data::Matrix& v = *train.x_val;
    if (v.cols != x.cols) {
      throw core::Error(fmt::format("{}: validation rows have {} features, training rows have {}",
                                    model, v.cols, x.cols));
    }
    if (labels_required && train.y_val.empty()) {
      throw core::Error(fmt::format("{}: validation rows need labels", model));
    }
    check_size(train.y_val.size(), v.rows, "labels", "validation");
    check_size(train.group_val.size(), v.rows, "group ids", "validation");
    check_labels(train.y_val, "validation");
  }
}

std::string save_bundle(const std::filesystem::path& dir, std::string_view model,
                        ::torch::nn::Module& module, std::size_t features, float threshold,
                        const nlohmann::json& options, int format_version) {
  const std::string file = std::string(model) + ".pt";
  const std::filesystem::path pt = dir / file;
  const std::filesystem::path sidecar = neural::sidecar_path(dir, file);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw core::Error(fmt::format("{}: cannot create directory: {}", dir.string(), ec.message()));

  nlohmann::json params = nlohmann::json::array();
  std::vector<Tensor> tensors;
  std::vector<std::string> names;
  for (const auto& item : module.named_parameters()) {
    tensors.push_back(item.value().detach());
    names.push_back(item.key());
    params.push_back({{"name", item.key()}, {"shape", item.value().sizes().vec()}});
  }
  try {
    ::torch::save(tensors, pt.string());
  } catch (const c10::Error& e) {
    throw core::Error(fmt::format("{}: cannot write LibTorch parameters: {}", pt.string(),
                                  first_line(e.what_without_backtrace())));
  }
  const std::filesystem::path weights = neural::weights_path(dir, file);
  write_plain_weights(weights, names, tensors);
  const nlohmann::json doc = {{"format_version", format_version},
                              {"model", model},
                              {"features", features},
                              {"threshold", threshold},
                              {"parameters_file", file},
                              {"weights_file", weights.filename().string()},
                              {"options", options},
                              {"parameters", params}};
  std::ofstream out(sidecar, std::ios::trunc);
  out << doc.dump(2) << '\n';
  out.close();
  if (!out) throw core::Error(fmt::format("{}: cannot write the model sidecar", sidecar.string()));
  return file;
}

void load_parameters(const std::filesystem::path& dir, const std::string& file,
                     ::torch::nn::Module& module) {
  const std::filesystem::path path = dir / file;
  const std::string where = path.string();
  if (!std::filesystem::is_regular_file(path)) {
    throw core::Error(fmt::format("{}: model parameters file not found", where));
  }
  std::vector<Tensor> tensors;
  try {
    ::torch::load(tensors, where);
  } catch (const c10::Error& e) {
    throw core::Error(fmt::format("{}: cannot read LibTorch parameters: {}", where,
                                  first_line(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    throw core::Error(
        fmt::format("{}: cannot read LibTorch parameters: {}", where, first_line(e.what())));
  }
  auto params = module.named_parameters();
  if (tensors.size() != params.size()) {
    throw core::Error(
        fmt::format("{}: holds {} parameter tensors, the architecture in the sidecar "
                    "needs {}",
                    where, tensors.size(), params.size()));
  }
  ::torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    Tensor& target = params[i].value();
    if (tensors[i].sizes() != target.sizes()) {
      throw core::Error(fmt::format("{}: parameter '{}' has shape {}, expected {}", where,
                                    params[i].key(), shape_string(tensors[i].sizes()),
                                    shape_string(target.sizes())));
    }
    if (!::torch::isfinite(tensors[i]).all().item<bool>()) {
      throw core::Error(fmt::format("{}: parameter '{}' holds values that are not finite", where,
                                    params[i].key()));
    }
    target.copy_(tensors[i].to(::torch::kFloat32));
  }
}

std::string torch_error_line(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return first_line(c10->what_without_backtrace());
  }
  return first_line(e.what());
}

}  // namespace netsentry::ml::torch
