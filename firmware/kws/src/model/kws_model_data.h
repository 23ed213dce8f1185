// Generated from assistant/models/kws_int8.tflite (model b079c5f0) by `python -m model_training export`; do not edit.
// Regenerate: python -m model_training export
#ifndef KWS_MODEL_DATA_H_
#define KWS_MODEL_DATA_H_

namespace kws {

alignas(16) extern const unsigned char g_kws_model_data[];
extern const unsigned int g_kws_model_data_len;

}  // namespace kws

#endif  // KWS_MODEL_DATA_H_
