// Provides <httplib.h> configured like Debian's compiled libcpp-httplib (OpenSSL, zlib and brotli
// support on), so httplib::Request has the same layout here as inside the library. Include this,
// never <httplib.h> directly. Link with -lcpp-httplib.
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
