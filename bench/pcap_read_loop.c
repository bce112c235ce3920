/* The ceiling for capture-file throughput: open a capture with libpcap and touch every packet,
 * nothing else. bench/pcap_throughput compares `netsentry flows` against this loop. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CAPTURE...\n", argv[0]);
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE];
  unsigned long long packets = 0, bytes = 0, checksum = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 1; i < argc; ++i) {
    /* The same 1 MiB stdio buffer netsentry uses, so the ceiling is the best plain loop. */
    FILE* f = fopen(argv[i], "rb");
    if (!f) {
      perror(argv[i]);
      return 1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    struct pcap_pkthdr* h;
    const unsigned char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
      ++packets;
      bytes += h->len;
      if (h->caplen) checksum += data[h->caplen - 1];
    }
    pcap_close(p);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr, "packets: %llu bytes: %llu checksum: %llu time: %.3f s packets/s: %.0f\n", packets,
          bytes, checksum, s, packets / (s > 0 ? s : 1e-9));
  return 0;
}
