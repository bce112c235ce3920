// Provides the packet LSTM's scoring side without LibTorch (see LstmOptions in
// ml/torch/torch_models.h, input "packets"): make_packet_lstm(), an ml::Model that loads
// lstm.json and lstm.weights into a PacketLstmKernel, and score_packet_flows(), the scoring both
// it and the LibTorch model run. A row-sequence LSTM (input "rows") has no torch-free scorer.
// Thread rules: as ml::Model (load from one thread; score() const and concurrent-safe).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "ml/model.h"
#include "ml/neural/packet_lstm_kernel.h"
#include "ml/neural/sidecar.h"

namespace netsentry::ml::neural {

// The LSTM's sidecar format. 1: one window of past rows per scored row. 2: chunks labelled at
// every step, optional input projection, packet input; version-1 files must be retrained.
inline constexpr int kLstmFormatVersion = 2;

// The sidecar's "input": "rows" (bundles from before packet sequences have none) or "packets";
// throws core::Error naming the sidecar otherwise.
[[nodiscard]] std::string_view lstm_input(const Sidecar& sidecar);

// One score per row of input.x from each row's first packets (0 for a row without packets);
// throws core::Error when the rows do not match `features` or do not all carry a sequence.
[[nodiscard]] std::vector<float> score_packet_flows(const PacketLstmKernel& kernel,
                                                    const ScoreInput& input, std::size_t features,
                                                    std::size_t max_packets, int threads);

// The torch-free packet LSTM; load(dir, "lstm.weights", features) reads lstm.json and
// lstm.weights.
[[nodiscard]] std::unique_ptr<Model> make_packet_lstm();

}  // namespace netsentry::ml::neural
