// Provides the seams through which the detection stage reaches its outputs. They are declared here
// and implemented further up the folder table (store/: alerts.csv, SQLite, syslog, eve.json;
// server/: the dashboard's live state, the webhook; app/: the capture evaluation), so detect/
// includes nothing above it:
//  * AlertSink: every delivery of an alert (raised, updated, escalated, past; see detect/alert.h
//    for the lifecycle). A sink keeps one record per alert id and replaces it on each delivery;
//  * FlowVerdictSink: finished flows in the order they ended, each with its ML verdict;
//  * TrafficSink: per-second traffic samples the stage judged (host counters, capture series);
//  * HostRiskSink: the riskiest host profiles, about once a second of wall time;
//  * ModelSink: the model bundle the stage scores with, when it changes.
// Thread rules: the stage calls every sink from its own thread (one at a time), in packet-time
// order; a sink that hands work to another thread does so behind its own queue. flush() is called
// at the end and must leave everything delivered so far written.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "detect/flow_scorer.h"
#include "detect/profiles.h"
#include "flow/flow_record.h"
#include "host/monitor.h"
#include "ml/bundle.h"

namespace netsentry::detect {

// A named output whose failures (disk full) become "system" alerts: one per failure streak.
struct OutputHealth {
  bool failing = false;      // the output cannot write now (its rows wait or are lost)
  std::uint64_t faults = 0;  // failures so far (grows by one per streak or per failed write)
  std::string message;       // what failed, for the alert ("The SQLite store ... failed ...")
};
struct WatchedOutput {
  std::string name;                     // the alert's interface ("sqlite", "alerts.csv")
  std::function<OutputHealth()> probe;  // called on the stage's thread
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void on_alert(const Alert& alert, AlertChange change) = 0;
  // Called with every packet-time tick (about once a second, also when nothing happens): a
  // buffering writer makes recent rows visible (alerts.csv is followed with tail -f).
  virtual void tick() {}
  virtual void flush() {}
};

class FlowVerdictSink {
 public:
  virtual ~FlowVerdictSink() = default;
  // `verdicts` parallels `flows`; `threshold` is the generic model's (0 without one).
  virtual void on_flows(std::span<const flow::FlowRecord> flows,
                        std::span<const FlowVerdict> verdicts, float threshold) = 0;
  virtual void flush() {}
};

class TrafficSink {
 public:
  virtual ~TrafficSink() = default;
  virtual void on_traffic(const host::TrafficSample& sample) = 0;
};

class HostRiskSink {
 public:
  virtual ~HostRiskSink() = default;
  virtual void on_host_risks(std::vector<HostRisk> hosts) = 0;
};

class ModelSink {
 public:
  virtual ~ModelSink() = default;
  // `what` says where it came from ("models/default", "this network's baseline, ...").
  virtual void on_model(const ml::Bundle& bundle, const std::string& what) = 0;
};

}  // namespace netsentry::detect
