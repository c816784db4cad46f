#include "ble-reader/att_client.hpp"

#include <cstdio>

namespace c4i::reader {
namespace {
std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}
std::string hex2(std::uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}
}  // namespace

AttClient::AttClient(AttIo& io, AttClientOptions options) : io_(io), options_(options) {}

unsigned AttClient::request(att::Bytes pdu, ResponseCallback cb, std::int64_t now_ms) {
  if (!open_ || pdu.empty()) return 0;
  Pending p;
  p.id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  p.pdu = std::move(pdu);
  p.cb = std::move(cb);
  const unsigned id = p.id;
  queue_.push_back(std::move(p));
  if (!outstanding_) send_next(now_ms);
  return id;
}

bool AttClient::command(const att::Bytes& pdu) {
  if (!open_) return false;
  if (!io_.send(pdu)) {
    fail_all(AttOutcome::Kind::disconnected, "the transport failed while sending " + att::opcode_name(pdu[0]));
    return false;
  }
  return true;
}

bool AttClient::cancel(unsigned id) {
  if (outstanding_ && outstanding_->id == id) {
    outstanding_->cb = nullptr;
    return true;
  }
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id == id) {
      queue_.erase(it);
      return true;
    }
  }
  return false;
}

void AttClient::send_next(std::int64_t now_ms) {
  while (open_ && !outstanding_ && !queue_.empty()) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    p.deadline_ms = now_ms + options_.timeout_ms;
    ++stats_.requests;
    if (!io_.send(p.pdu)) {
      outstanding_ = std::move(p);
      fail_all(AttOutcome::Kind::disconnected,
               "the transport failed while sending " + att::opcode_name(outstanding_->pdu[0]));
      return;
    }
    outstanding_ = std::move(p);
  }
}

void AttClient::finish(AttOutcome outcome, std::int64_t now_ms) {
  Pending done = std::move(*outstanding_);
  outstanding_.reset();
  // The callback may queue the next request; send_next runs after it either way.
  if (done.cb) done.cb(outcome);
  send_next(now_ms);
}

void AttClient::receive(std::span<const std::uint8_t> pdu, std::int64_t now_ms) {
  if (!open_) return;
  if (pdu.empty()) {
    ++stats_.malformed;
    return;
  }
  const std::uint8_t op = pdu[0];
  if (op == static_cast<std::uint8_t>(att::Opcode::handle_value_ntf) ||
      op == static_cast<std::uint8_t>(att::Opcode::handle_value_ind)) {
    auto hv = att::parse_handle_value(pdu);
    if (!hv) {
      ++stats_.malformed;
      return;
    }
    if (hv->indication) ++stats_.indications;
    else ++stats_.notifications;
    if (on_value_) on_value_(*hv);
    // Vol 3, Part F, 3.4.7.3: the client confirms every indication it received.
    if (hv->indication && open_) command(att::encode_confirmation());
    return;
  }
  if (att::is_request(op) || op == static_cast<std::uint8_t>(att::Opcode::write_cmd)) {
    // A server speaking to us as a server: we host no database (3.4.1.1).
    if (att::is_request(op)) command(att::encode_error_rsp(op, 0x0000, 0x06));
    return;
  }
  if (!outstanding_) {
    ++stats_.unexpected;
    return;
  }
  const std::uint8_t req = outstanding_->pdu[0];
  if (op == static_cast<std::uint8_t>(att::Opcode::error_rsp)) {
    auto e = att::parse_error_rsp(pdu);
    if (!e) {
      ++stats_.malformed;
      AttOutcome o;
      o.kind = AttOutcome::Kind::malformed;
      o.message = att::opcode_name(req) + ": " + e.error().message;
      finish(std::move(o), now_ms);
      return;
    }
    if (e->request_opcode != req) {
      ++stats_.unexpected;
      return;
    }
    AttOutcome o;
    o.kind = AttOutcome::Kind::att_error;
    o.error = *e;
    o.message = att::opcode_name(req) + " on handle " + hex4(e->handle) + " failed: " + att::error_name(e->code) +
                " (ATT error " + hex2(e->code) + "): " + att::error_description(e->code);
    finish(std::move(o), now_ms);
    return;
  }
  if (op != att::response_for(req)) {
    ++stats_.unexpected;
    return;
  }
  AttOutcome o;
  o.kind = AttOutcome::Kind::response;
  o.pdu.assign(pdu.begin(), pdu.end());
  finish(std::move(o), now_ms);
}

void AttClient::tick(std::int64_t now_ms) {
  if (!open_ || !outstanding_ || now_ms < outstanding_->deadline_ms) return;
  // Vol 3, Part F, 3.3.3: after a transaction times out no more ATT PDUs may be
  // sent on this bearer; a new connection is needed.
  fail_all(AttOutcome::Kind::timeout, "ATT " + att::opcode_name(outstanding_->pdu[0]) + " got no response within " +
                                          std::to_string(options_.timeout_ms) + " ms");
}

std::optional<std::int64_t> AttClient::next_deadline() const {
  if (!open_ || !outstanding_) return std::nullopt;
  return outstanding_->deadline_ms;
}

void AttClient::close(const std::string& reason) {
  if (!open_) return;
  fail_all(AttOutcome::Kind::disconnected, reason);
}

void AttClient::fail_all(AttOutcome::Kind kind, const std::string& reason) {
  open_ = false;
  close_reason_ = reason;
  std::deque<Pending> all;
  if (outstanding_) all.push_back(std::move(*outstanding_));
  outstanding_.reset();
  for (auto& p : queue_) all.push_back(std::move(p));
  queue_.clear();
  bool first = true;
  for (auto& p : all) {
    AttOutcome o;
    o.kind = first ? kind : AttOutcome::Kind::disconnected;
    o.message = first ? reason : att::opcode_name(p.pdu[0]) + " not sent: " + reason;
    first = false;
    if (p.cb) p.cb(o);
  }
}

}  // namespace c4i::reader
