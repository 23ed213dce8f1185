// Generated from streaming_report.json by `python -m model_training.streaming thresholds`;
// do not edit.
#ifndef KWS_THRESHOLDS_H_
#define KWS_THRESHOLDS_H_

#include <cstdint>

namespace kws {

// Default detection threshold of each label in thousandths, in the order of kLabels.
constexpr uint16_t kDefaultThresholdPermille[] = {
    1000,  // silence
    1000,  // unknown
    870,  // on
    680,  // off
    720,  // up
    750,  // down
    790,  // go
    800,  // stop
};

}  // namespace kws

#endif  // KWS_THRESHOLDS_H_
