// The TensorFlow Lite Micro operators the model needs. The sketch registers exactly these in a
// MicroMutableOpResolver<kModelOpCount>; a host test checks the list against the exported model.
#pragma once

namespace kws {

constexpr int kModelOpCount = 5;

// Registers the operators; false if the resolver refused one (TfLiteStatus kTfLiteOk is 0).
template <typename Resolver>
bool add_model_ops(Resolver& resolver) {
  return static_cast<int>(resolver.AddConv2D()) == 0 &&
         static_cast<int>(resolver.AddDepthwiseConv2D()) == 0 &&
         static_cast<int>(resolver.AddFullyConnected()) == 0 &&
         static_cast<int>(resolver.AddMean()) == 0 && static_cast<int>(resolver.AddSoftmax()) == 0;
}

}  // namespace kws
