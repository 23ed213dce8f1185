#include "serial_link.h"

namespace kws {

Link::Link(const BoardIdentity& identity, Recognizer& recognizer)
    : identity_(identity), recognizer_(recognizer) {
  for (int i = 0; i < recognizer_.label_count(); ++i) {
    if (recognizer_.reportable(i)) commands_[command_count_++] = recognizer_.label(i);
  }
}

// A line cut at kMaxLineBytes is not sent: the host would take it for a whole one. Like a line
// the queue has no room for, it costs its seq, so the host sees the gap.
void Link::send() {
  ++next_seq_;
  if (line_.overflowed() || !output_.push_line(line_.c_str(), line_.size())) ++lost_lines_;
}

void Link::connect(uint32_t now_ms) {
  connected_ = true;
  output_.drop_unstarted();  // the HELLO must not follow a line cut short
  request_size_ = 0;
  next_seq_ = 0;
  last_heartbeat_ms_ = now_ms;
  encode_hello(line_, next_seq_, identity_.firmware, identity_.model, commands_, command_count_);
  send();
}

void Link::disconnect() {
  connected_ = false;
  output_.clear();
  request_size_ = 0;
  after_cr_ = false;
}

void Link::report(const Detection& detection) {
  if (!connected_) return;
  encode_detection(line_, next_seq_, detection.label, detection.permille, detection.time_ms);
  send();
}

void Link::tick(uint32_t now_ms) {
  if (!connected_ || now_ms - last_heartbeat_ms_ < kHeartbeatMs) return;
  if (now_ms - last_audio_ms_ >= kAudioStallMs) return;  // the microphone stopped, or never began
  last_heartbeat_ms_ = now_ms;
  encode_heartbeat(line_, next_seq_, now_ms);
  send();
}

// A request ends at '\n', '\r' or "\r\n": terminals such as screen and PuTTY send a bare '\r'.
void Link::receive(char byte, uint32_t now_ms) {
  const bool ends_crlf = after_cr_ && byte == '\n';
  after_cr_ = byte == '\r';
  if (ends_crlf) return;  // the request ended at its '\r'
  if (byte != '\n' && byte != '\r') {
    if (request_size_ < sizeof(request_)) request_[request_size_++] = byte;
    return;
  }
  answer(request_, request_size_, now_ms);
  request_size_ = 0;
}

void Link::answer_info() {
  size_t count = 0;
  for (int i = 0; i < recognizer_.label_count(); ++i) {
    if (recognizer_.reportable(i)) thresholds_[count++] = recognizer_.threshold(i);
  }
  const InfoFields fields{identity_.firmware, identity_.model, identity_.arena_bytes,
                          inference_us_,      dropped_samples_, commands_,
                          thresholds_,        command_count_};
  encode_info(line_, next_seq_, fields);
}

void Link::answer(const char* line, size_t length, uint32_t now_ms) {
  if (!connected_) return;
  Request request;
  const RequestError error = parse_request(line, length, &request);
  if (error == RequestError::kNone && request.kind == RequestKind::kHello) {
    connect(now_ms);  // lines still queued belong to whatever session the host left
    return;
  }
  if (error != RequestError::kNone) {
    encode_error(line_, next_seq_, error_token(error));
  } else if (request.kind == RequestKind::kPing) {
    encode_pong(line_, next_seq_, request.id);
  } else if (request.kind == RequestKind::kInfo) {
    answer_info();
  } else if (recognizer_.set_threshold(request.label, request.permille)) {
    encode_ok(line_, next_seq_, "set");
  } else {
    encode_error(line_, next_seq_, "unknown_label");
  }
  send();
}

}  // namespace kws
