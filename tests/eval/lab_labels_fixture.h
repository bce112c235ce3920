// The labels and packet-time origin the capture-evaluation tests share (tests/eval/ and
// tests/app/evaluate_pcap_test.cpp): three episodes on 2026-01-01.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "net/packet.h"

namespace netsentry::eval::test_support {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'767'225'600LL * kSecond;  // 2026-01-01T00:00:00Z

inline const char* const kLabels =
    "kind,src,dst,start,end,tool,description\n"
    "port_scan,10.0.0.66,10.0.0.1,1767225610,1767225610.2,nmap,SYN scan\n"
    "syn_flood,198.18.0.0/15,10.0.0.1,1767225650,1767225660,hping3,spoofed\n"
    "host_scan,10.0.0.99,,1767225700,1767225701,nmap,sweep\n";

inline net::IpAddress ip(const char* text) {
  net::IpAddress out;
  EXPECT_TRUE(net::IpAddress::parse(text, out)) << text;
  return out;
}

}  // namespace netsentry::eval::test_support
