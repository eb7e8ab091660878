// A MetricsSink that writes TensorBoard event files (TFRecord framing, masked
// CRC32C) with scalars, histograms and text, without TensorFlow.
#ifndef RLVR_EVAL_TENSORBOARD_SINK_H_
#define RLVR_EVAL_TENSORBOARD_SINK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/metrics_sink.h"

namespace rlvr {

// CRC-32C (Castagnoli) of `data`, and the masked form TFRecord stores:
// ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t Crc32c(absl::string_view data);
uint32_t MaskedCrc32c(absl::string_view data);

// Creates `logdir` and a new events.out.tfevents.<seconds>.<host>.<pid> file in it.
// Scalars are tagged "<phase>/<name>"; samples become one markdown table per call
// (text plugin). Files are flushed by Flush() and on destruction.
absl::StatusOr<std::unique_ptr<MetricsSink>> OpenTensorBoardSink(const std::string& logdir);

}  // namespace rlvr

#endif  // RLVR_EVAL_TENSORBOARD_SINK_H_
