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
    950,  // on
    600,  // off
    850,  // up
    850,  // down
    700,  // go
    850,  // stop
};

}  // namespace kws

#endif  // KWS_THRESHOLDS_H_
