"""Modules of the traffic lab (scripts/lab): pcap I/O, the synthetic capture, the servers and
clients run inside the lab's network namespaces, and the orchestration of the real run."""
