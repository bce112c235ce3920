// Community ID v1. SHA-1 comes from Nettle (Debian's nettle-dev): no allocation per hash, which
// OpenSSL 3's EVP interface needs.
#include "net/community_id.h"

#include <nettle/sha1.h>

#include <cstring>

namespace netsentry::net {
namespace {

// Zeek's ICMP/ICMPv6 request/reply pairs: a type in this table is two-way (its counterpart is the
// "destination port" and the tuple is ordered); any other type is one-way (type, code).
int counterpart(std::uint8_t proto, std::uint16_t type) {
  if (proto == 1) {
    switch (type) {
      case 8:
        return 0;
      case 0:
        return 8;
      case 13:
        return 14;
      case 14:
        return 13;
      case 15:
        return 16;
      case 16:
        return 15;
      case 10:
        return 9;
      case 9:
        return 10;
      case 17:
        return 18;
      case 18:
        return 17;
      default:
        return -1;
    }
  }
  switch (type) {
    case 128:
      return 129;
    case 129:
      return 128;
    case 130:
      return 131;
    case 131:
      return 130;
    case 133:
      return 134;
    case 134:
      return 133;
    case 135:
      return 136;
    case 136:
      return 135;
    case 139:
      return 140;
    case 140:
      return 139;
    case 144:
      return 145;
    case 145:
      return 144;
    default:
      return -1;
  }
}

bool has_ports(std::uint8_t proto) {
  return proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

char* CommunityId::write(char* out) const {
  if (!valid) return out;
  *out++ = '1';
  *out++ = ':';
  // 20 bytes: six full groups of 3, then 2 bytes with one '=' of padding.
  std::size_t i = 0;
  for (; i + 3 <= digest.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint32_t>(digest[i]) << 16 |
                            static_cast<std::uint32_t>(digest[i + 1]) << 8 | digest[i + 2];
    *out++ = kBase64[v >> 18];
    *out++ = kBase64[(v >> 12) & 0x3F];
    *out++ = kBase64[(v >> 6) & 0x3F];
    *out++ = kBase64[v & 0x3F];
  }
  const std::uint32_t v =
      static_cast<std::uint32_t>(digest[i]) << 16 | static_cast<std::uint32_t>(digest[i + 1]) << 8;
  *out++ = kBase64[v >> 18];
  *out++ = kBase64[(v >> 12) & 0x3F];
  *out++ = kBase64[(v >> 6) & 0x3F];
  *out++ = '=';
  return out;
}

std::string CommunityId::to_string() const {
  char buf[kTextLength];
  return std::string(buf, write(buf));
}

CommunityId community_id(const IpAddress& src, const IpAddress& dst, std::uint8_t ip_proto,
                         std::uint16_t src_port, std::uint16_t dst_port, std::uint16_t seed) {
  CommunityId id;
  if (src.family != 4 && src.family != 6) return id;
  const std::size_t addr_len = src.family == 4 ? 4 : 16;
  const bool ports = has_ports(ip_proto);
  bool one_way = false;
  if (ip_proto == 1 || ip_proto == 58) {
    const int other = counterpart(ip_proto, src_port);
    if (other >= 0) {
      dst_port = static_cast<std::uint16_t>(other);
    } else {
      one_way = true;
    }
  }
  const IpAddress* a = &src;
  const IpAddress* b = &dst;
  std::uint16_t pa = src_port;
  std::uint16_t pb = dst_port;
  if (!one_way) {
    const int order = std::memcmp(src.bytes.data(), dst.bytes.data(), addr_len);
    const bool ordered = order < 0 || (order == 0 && (!ports || src_port < dst_port));
    if (!ordered) {
      std::swap(a, b);
      std::swap(pa, pb);
    }
  }
  std::uint8_t input[2 + 16 + 16 + 2 + 4];
  std::size_t n = 0;
  input[n++] = static_cast<std::uint8_t>(seed >> 8);
  input[n++] = static_cast<std::uint8_t>(seed);
  std::memcpy(input + n, a->bytes.data(), addr_len);
  n += addr_len;
  std::memcpy(input + n, b->bytes.data(), addr_len);
  n += addr_len;
  input[n++] = ip_proto;
  input[n++] = 0;
  if (ports) {
    input[n++] = static_cast<std::uint8_t>(pa >> 8);
    input[n++] = static_cast<std::uint8_t>(pa);
    input[n++] = static_cast<std::uint8_t>(pb >> 8);
    input[n++] = static_cast<std::uint8_t>(pb);
  }
  sha1_ctx ctx;
  sha1_init(&ctx);
  sha1_update(&ctx, n, input);
  sha1_digest(&ctx, id.digest.size(), id.digest.data());
  id.valid = true;
  return id;
}

CommunityId community_id(const Packet& packet, std::uint16_t seed) {
  if (packet.ip_proto == 1 || packet.ip_proto == 58) {
    return community_id(packet.src, packet.dst, packet.ip_proto, packet.icmp_type, packet.icmp_code,
                        seed);
  }
  return community_id(packet.src, packet.dst, packet.ip_proto, packet.src_port, packet.dst_port,
                      seed);
}

}  // namespace netsentry::net
