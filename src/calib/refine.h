// The threshold search of `octet calibrate`'s refinement (calib/calibrate.h, RefineOptions): for every tensor the
// INT8 plan rounds, in network order, try the other thresholds calibration recorded for it
// (CalibEntry::candidates) and keep the one that gives the plan's outputs the highest SQNR against FP32 on the
// refinement samples (coordinate descent, sweeps repeated while a sweep gains `min_gain_db`). The decision rule is
// the one of octet tune's scale search (calib/tune.h, step 1): a candidate replaces the current threshold when
// the SQNR over *all* samples gains more than `accept_db`.
//
// What makes it cheap: most candidates lose, and most of them lose clearly, so they are rejected before the
// whole-network trial over all samples that an acceptance needs:
//
// 1. Local error proxy, no trial at all. One FP32 pass over the screening samples measures, for every tensor
//    and candidate, the tensor's own rounding error sum (x - q(x))^2 at that threshold. A candidate whose local
//    error is more than `prune_ratio` times that of the tensor's current threshold is not tried: a threshold
//    that rounds its own tensor that much worse has not been seen to win downstream.
// 2. Screening trial. The INT8 plan with the candidate runs on `screen_samples` of the refinement samples: half
//    of them the samples with the largest output noise under the current thresholds (they carry most of the
//    noise a threshold changes; chosen again at the start of every sweep), half spread evenly over the rest (a
//    screen of at most 4 samples: all spread evenly). A candidate that does not gain more than `accept_db` there over the current thresholds (paired comparison,
//    same samples) is rejected.
// 3. Settled decisions. A candidate that lost its screen by more than `settle_db` is not screened again in the
//    next sweep (a sweep revisits thresholds because the tensors after them changed; that moves close calls,
//    not clear losses).
// 4. Confirmation. Only a candidate whose screen gained more than `confirm_db` runs on all samples (best screen
//    first, at most `max_confirmations` per tensor and sweep), and is accepted by the exact rule above. From half
//    of the samples on, a sequential test stops a confirmation that cannot plausibly gain (`confirm_half`). So
//    every accepted change gains what the exhaustive search's rule demands; what the cheap steps can do is miss a
//    candidate that would have won narrowly.
//
// What makes each trial cheap (the decisions are the same as with a plan built per trial, bit for bit): one
// INT8 plan is built, and a trial changes its scales in place (Plan::update_int8_amax: only the kernels whose
// multipliers, scales or accumulator-unit biases change are created again). A screening trial (cpu and ref
// backends) runs only the steps from the first one the changed scale affects, on the saved tensors of the
// current thresholds' screening run (Plan::run_from), and stops after a batch once the noise so far shows it
// lost (by more than settle_db where a later sweep may ask, else by enough not to pass): the noise only grows.
// A confirmation (a run over all samples, through a plan that does not keep its tensors) starts, per batch, from a
// checkpoint: the values live at the first step the previous confirmations' candidates changed, saved from a run
// whose steps before it were those of the accepted thresholds (Plan::run_from's snapshot); it leaves one at its
// own candidate's first changed step. Tensors are tried in network order, so a sweep's confirmations run from
// ever later steps. It stops after a batch once the noise so far shows it cannot gain accept_db.
//
// screen_samples = 0 and prune_ratio = 0 give the exhaustive search (every trial on all samples), which is
// tune.h's scale search. Deterministic: same samples, same table.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "calib/table.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace octet {

struct ThresholdSearchOptions {
  std::string backend = "cpu";
  int max_sweeps = 3;
  double min_gain_db = 0.1;       // another sweep only after a sweep gained this much (all samples)
  double accept_db = 0.01;        // a candidate must gain more than this on all samples
  // Screening samples; -1: by the size of a sample's output (about 8,192 output values: 16 for a CIFAR-10
  // classifier, 8 for ResNet-50, 4 for a detector's map); 0 (or >= the samples): no screening, every trial runs
  // all samples.
  int64_t screen_samples = -1;
  // With screening: a candidate is run on all samples only when its screen gained more than this (and accept_db).
  // Narrower screen wins rarely hold on all samples (ResNet-50: 20 of its 26 confirmations had screen gains of
  // 0.010-0.03 dB, all lost) and, where they do, gain less than any accuracy measurement resolves.
  double confirm_db = 0.03;
  // With screening: from half of the samples on, a confirmation stops as rejected once even an optimistic
  // completion (4 standard deviations of the paired per-batch noise differences so far) cannot gain accept_db
  // (false: only once it cannot gain at all).
  bool confirm_half = true;
  double prune_ratio = 4.0;       // local error proxy bound (0: no pruning)
  // With screening: a candidate that lost its screening run by more than this (dB) is not tried again in the
  // following sweeps (0: always tried again).
  double settle_db = 1.5;
  // With screening: at most this many of a tensor's candidates that won their screen are run on all samples
  // (best screen first; the first that gains is taken).
  int max_confirmations = 2;
  // Called after every trial with (trials done, trials planned so far, what was tried).
  std::function<void(int, int, const std::string&)> progress;
};

struct ThresholdChange {
  std::string tensor, choice;   // choice: the candidate's name ("mse", "percentile99.99", ...)
  float amax_before = 0.f, amax_after = 0.f;
  double sqnr_db = 0;           // output SQNR on all samples after the change
};

struct ThresholdSearchResult {
  CalibTable table;             // the input table with the chosen amax per tensor
  double sqnr_start_db = 0, sqnr_db = 0;  // all samples, before and after
  std::vector<ThresholdChange> changes;   // accepted, in order (a tensor may appear once per sweep)
  int sweeps = 0;
  int trials = 0;               // candidate runs (screening or exhaustive)
  int pruned = 0;               // candidates skipped by the local error proxy
  int screened_out = 0;         // screened candidates not confirmed (lost the screen, or another one was taken)
  int confirmations = 0;        // runs over all samples after a passed screen
  int64_t screen_samples = 0;   // screening samples used (0: none)
  int weighted_outputs = 0;     // outputs whose components count alike (calib/output_weights.h)
  int halted = 0;               // confirmations stopped half-way (confirm_half)
  int settled = 0;              // candidates not tried again in a later sweep (settle_db)
  // Where the time went (wall seconds): FP32 references and the local error proxy, building the trial plans
  // and changing their scales in place, screening runs, runs over all samples (the start and the confirmations).
  double seconds_setup = 0, seconds_build = 0, seconds_screen = 0, seconds_full = 0;
};

// `batches`: the samples, each batch one tensor per graph input (in graph-input order). `reference`, when given:
// the model's FP32 outputs on them (per batch, in graph-output order, the batch's samples first; e.g. kept from
// the calibration pass, calib/calibrate.cpp); else an FP32 plan computes them. Entries without candidates keep
// their amax. Throws Error if there are no samples or the table cannot quantize the model.
ThresholdSearchResult search_thresholds(const Graph& model, const CalibTable& table,
                                        const std::vector<std::vector<Tensor>>& batches,
                                        const ThresholdSearchOptions& opt = {},
                                        const std::vector<std::vector<Tensor>>* reference = nullptr);

// The screening sample count of screen_samples = -1 for `values` output values (all outputs) over `samples`
// samples: about 8,192 output values, at least 4 and at most 16 samples.
int64_t refine_screen_count(int64_t values, int64_t samples);

}  // namespace octet
