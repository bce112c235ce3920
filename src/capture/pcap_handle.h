// Provides the libpcap helpers shared by the readers in src/capture/ (internal to this folder):
// RAII owners for a pcap_t and a compiled BPF program, the link type and filter compilation
// (throwing core::Error with the input's name and libpcap's reason).
// Thread rules: plain owners; use each from one thread.
#pragma once

#include <pcap/pcap.h>

#include <string>
#include <utility>

#include "net/packet.h"

namespace netsentry::capture {

class PcapHandle {
 public:
  explicit PcapHandle(pcap_t* p = nullptr) : p_(p) {}
  ~PcapHandle() {
    if (p_) pcap_close(p_);
  }
  PcapHandle(const PcapHandle&) = delete;
  PcapHandle& operator=(const PcapHandle&) = delete;
  [[nodiscard]] pcap_t* get() const { return p_; }
  pcap_t* release() { return std::exchange(p_, nullptr); }

 private:
  pcap_t* p_;
};

// A compiled filter; empty() when there is no filter (everything passes).
class BpfProgram {
 public:
  BpfProgram() = default;
  ~BpfProgram() {
    if (compiled_) pcap_freecode(&program_);
  }
  BpfProgram(BpfProgram&& other) noexcept
      : program_(std::exchange(other.program_, bpf_program{})),
        compiled_(std::exchange(other.compiled_, false)) {}
  BpfProgram& operator=(BpfProgram&&) = delete;
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  [[nodiscard]] bool empty() const { return !compiled_; }
  [[nodiscard]] const bpf_program* get() const { return &program_; }
  bpf_program* reset_for_compile() {
    if (compiled_) pcap_freecode(&program_);
    compiled_ = false;
    program_ = bpf_program{};
    return &program_;
  }
  void mark_compiled() { compiled_ = true; }

 private:
  bpf_program program_{};
  bool compiled_ = false;
};

// Compiles `filter` for `p`'s link type; an empty filter gives an empty program.
[[nodiscard]] BpfProgram compile_filter(pcap_t* p, const std::string& filter,
                                        const std::string& what);
// The handle's link type (any DLT: one net::decode does not understand is counted, not refused).
[[nodiscard]] net::LinkType link_type_of(pcap_t* p);

}  // namespace netsentry::capture
