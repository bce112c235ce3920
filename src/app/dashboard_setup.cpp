#include "app/dashboard_setup.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <system_error>

#include "core/error.h"

namespace netsentry::app {

std::filesystem::path find_web_dir(const std::string& explicit_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!explicit_dir.empty()) {
    if (!fs::exists(fs::path(explicit_dir) / "index.html", ec)) {
      throw core::Error(fmt::format("--web-dir {}: no index.html there", explicit_dir));
    }
    return explicit_dir;
  }
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::string tried;
  if (!ec) {
    for (const auto& dir :
         {exe.parent_path() / "web", exe.parent_path().parent_path().parent_path() / "web",
          exe.parent_path().parent_path() / "share" / "netsentry" / "web"}) {
      if (fs::exists(dir / "index.html", ec)) return dir;
      tried += (tried.empty() ? "" : ", ") + dir.lexically_normal().string();
    }
  }
  throw core::Error(fmt::format(
      "the dashboard's web assets were not found (looked in {}); pass --web-dir (for monitor, "
      "--no-dashboard runs without the page)",
      tried.empty() ? "nowhere: cannot resolve the executable" : tried));
}

server::ServerOptions server_options(const std::string& listen, const std::string& token,
                                     const std::string& token_file,
                                     const std::filesystem::path& web_dir) {
  server::ServerOptions o;
  std::string host = "127.0.0.1";
  std::string port_text = listen;
  if (const auto colon = listen.rfind(':'); colon != std::string::npos) {
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // [::1]:8050
    }
    if (host.empty()) host = "127.0.0.1";
  }
  int port = -1;
  const auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    throw core::Error(fmt::format("--listen {}: expected HOST:PORT, e.g. 127.0.0.1:8050", listen));
  }
  o.host = host;
  o.port = port;
  o.auth_token = token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, o.auth_token)) {
      throw core::Error(
          fmt::format("--auth-token-file {}: cannot read a token from it", token_file));
    }
    while (!o.auth_token.empty() && (o.auth_token.back() == '\r' || o.auth_token.back() == ' ')) {
      o.auth_token.pop_back();
    }
  }
  o.assets_dir = web_dir;
  return o;
}

server::ModelsInfo models_info(const ml::Bundle& bundle, const std::string& path) {
  server::ModelsInfo info;
  info.bundle_path = path;
  info.format_version = std::to_string(ml::kBundleFormatVersion);
  if (bundle.training.contains("created_at")) {
    info.created = bundle.training.value("created_at", "");
  }
  info.feature_count = bundle.preprocessor.output_size();
  const auto mode = ml::to_string(bundle.ensemble.mode());
  // A vote's quorum is the share of the models' summed weight that must call a flow anomalous
  // (the original project's rule is a plain majority, 0.5 with equal weights).
  info.ensemble_rule =
      mode == "vote"
          ? fmt::format("weighted vote > {:g} of the models' weight{}",
                        bundle.ensemble.vote_quorum(),
                        bundle.ensemble.vote_quorum() == 0.5 ? " (the original's rule)" : "")
      : mode == "tail" ? "combined normal-tail evidence (Fisher), alert-rate threshold"
      : mode == "max"  ? "most extreme normal-tail position of any model, alert-rate threshold"
      : mode == "soft" ? "weighted mean of calibrated probabilities"
                       : "logistic regression on the model scores (stacked)";
  info.ensemble_threshold = bundle.ensemble.threshold();
  for (const auto& m : bundle.models) {
    server::ModelInfo mi;
    mi.name = std::string(m->name());
    mi.threshold = m->threshold();
    mi.weight = bundle.ensemble.weight_of(mi.name);
    const auto& j = bundle.metrics;
    if (j.contains(mi.name)) {
      const auto& e = j.at(mi.name);
      const auto& part =
          e.contains("test") ? e.at("test") : e.value("validation", nlohmann::json{});
      for (const char* k : {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"}) {
        if (part.contains(k) && part.at(k).is_number()) mi.metrics.emplace_back(k, part.at(k));
      }
      if (part.contains("confusion_matrix")) {
        mi.confusion_labels = {"normal", "attack"};
        for (const auto& row : part.at("confusion_matrix")) {
          mi.confusion.push_back(row.get<std::vector<std::uint64_t>>());
        }
      }
    }
    info.models.push_back(std::move(mi));
  }
  return info;
}

}  // namespace netsentry::app
