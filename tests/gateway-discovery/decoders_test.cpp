// The pure decoders: HCI LE advertising report events, advertising data,
// the simulator wire format.
#include "gateway-discovery/hci_events.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/json_text.hpp"
#include "gateway-discovery/sim_wire.hpp"

namespace c4i::discovery {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Builds an LE Meta event from its parameters (after the subevent code).
Bytes le_meta(std::uint8_t subevent, const Bytes& params) {
  Bytes e = {kEventLeMeta, static_cast<std::uint8_t>(params.size() + 1), subevent};
  e.insert(e.end(), params.begin(), params.end());
  return e;
}

Bytes legacy_report(std::uint8_t type, std::uint8_t addr_type, std::uint8_t last_addr_byte, const Bytes& ad,
                    std::int8_t rssi) {
  Bytes r = {type, addr_type, last_addr_byte, 0x55, 0x44, 0x33, 0x22, 0x11, static_cast<std::uint8_t>(ad.size())};
  r.insert(r.end(), ad.begin(), ad.end());
  r.push_back(static_cast<std::uint8_t>(rssi));
  return r;
}

TEST(HciEvents, DecodesSeveralLegacyReportsInOneEvent) {
  Bytes params = {3};
  for (auto [type, last, rssi] : {std::tuple{0, 0x66, -40}, {4, 0x67, -50}, {3, 0x68, -90}}) {
    auto r = legacy_report(static_cast<std::uint8_t>(type), 1, static_cast<std::uint8_t>(last), {2, 0x01, 0x06},
                           static_cast<std::int8_t>(rssi));
    params.insert(params.end(), r.begin(), r.end());
  }
  std::vector<AdvReport> out;
  const auto event = le_meta(0x02, params);  // the reports point into it
  ASSERT_EQ(decode_advertising_event(event, out), EventDecode::ok);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].addr.str(), "11:22:33:44:55:66");
  EXPECT_EQ(out[1].addr.str(), "11:22:33:44:55:67");
  EXPECT_EQ(out[2].addr.str(), "11:22:33:44:55:68");
  EXPECT_EQ(out[0].rssi, -40);
  EXPECT_EQ(out[1].rssi, -50);
  EXPECT_EQ(out[2].rssi, -90);
  EXPECT_EQ(out[1].event_type, 4);
  EXPECT_STREQ(legacy_event_type_name(out[1].event_type), "scan_rsp");
  EXPECT_EQ(out[2].data.size(), 3u);
  EXPECT_STREQ(addr_type_name(out[0].addr_type), "random");
}

TEST(HciEvents, TruncatedReportIsMalformedAndKeepsEarlierReports) {
  Bytes params = {2};
  auto r1 = legacy_report(0, 0, 1, {2, 1, 6}, -40);
  auto r2 = legacy_report(0, 0, 2, {2, 1, 6}, -41);
  params.insert(params.end(), r1.begin(), r1.end());
  params.insert(params.end(), r2.begin(), r2.end() - 2);  // cut inside the second report
  std::vector<AdvReport> out;
  EXPECT_EQ(decode_advertising_event(le_meta(0x02, params), out), EventDecode::malformed);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rssi, -40);
}

TEST(HciEvents, DataLengthPastTheEventIsMalformed) {
  Bytes params = {1, 0, 0, 1, 2, 3, 4, 5, 6, 200, 0x02, 0x01};
  std::vector<AdvReport> out;
  EXPECT_EQ(decode_advertising_event(le_meta(0x02, params), out), EventDecode::malformed);
  EXPECT_TRUE(out.empty());
}

TEST(HciEvents, ParameterLengthLongerThanPacketIsMalformed) {
  Bytes e = {kEventLeMeta, 40, 0x02, 0};
  std::vector<AdvReport> out;
  EXPECT_EQ(decode_advertising_event(e, out), EventDecode::malformed);
  EXPECT_EQ(decode_advertising_event(Bytes{kEventLeMeta}, out), EventDecode::malformed);
  EXPECT_EQ(decode_advertising_event(Bytes{}, out), EventDecode::malformed);
}

TEST(HciEvents, OtherEventsAreNotAdvertising) {
  std::vector<AdvReport> out;
  // Command Complete (0x0E) and an LE Connection Complete (subevent 0x01).
  EXPECT_EQ(decode_advertising_event(Bytes{0x0E, 4, 1, 0x0C, 0x20, 0}, out), EventDecode::not_advertising);
  EXPECT_EQ(decode_advertising_event(le_meta(0x01, Bytes(18, 0)), out), EventDecode::not_advertising);
  EXPECT_TRUE(out.empty());
}

TEST(HciEvents, DecodesExtendedAdvertisingReport) {
  // Core v5.3, Vol 4, Part E, 7.7.65.13.
  Bytes params = {1,
                  0x13, 0x00,                          // Event_Type: connectable, scannable, legacy
                  0x01,                                // random
                  0xF6, 0xE5, 0xD4, 0xC3, 0xB2, 0xA1,  // address
                  0x01, 0x00, 0xFF,                    // PHYs, SID
                  0x04,                                // TX power
                  0xC4,                                // RSSI -60
                  0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0,  // interval, direct address
                  5, 4, 0x09, 'a', 'b', 'c'};
  std::vector<AdvReport> out;
  const auto event = le_meta(0x0D, params);  // the reports point into it
  ASSERT_EQ(decode_advertising_event(event, out), EventDecode::ok);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].subevent, 0x0D);
  EXPECT_EQ(out[0].event_type, 0x13);
  EXPECT_EQ(out[0].addr.str(), "a1:b2:c3:d4:e5:f6");
  EXPECT_EQ(out[0].rssi, -60);
  EXPECT_EQ(out[0].tx_power, 4);
  AdvertisingData ad;
  decode_advertising_data(out[0].data, ad);
  EXPECT_EQ(ad.name, "abc");
  // One byte short of the data: malformed.
  params.pop_back();
  out.clear();
  EXPECT_EQ(decode_advertising_event(le_meta(0x0D, params), out), EventDecode::malformed);
}

TEST(AdvertisingData, DecodesEveryFieldType) {
  Bytes ad = {2, 0x01, 0x06,                         // flags
              5, 0x03, 0x0D, 0x18, 0x0F, 0x18,       // complete 16-bit: 180d 180f
              5, 0x04, 0x78, 0x56, 0x34, 0x12,       // incomplete 32-bit: 12345678
              17, 0x07, 0xFB, 0x34, 0x9B, 0x5F, 0x80, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, 0x00, 0xF0, 0xFF, 0x00, 0x00,
              4, 0x08, 'H', 'R', 'M',                // short name
              7, 0x09, 'H', 'R', 'M', '-', 'P', 'X', // complete name
              2, 0x0A, 0xFC,                         // TX power -4
              3, 0x19, 0x40, 0x03,                   // appearance 832
              4, 0x16, 0x0D, 0x18, 0x42,             // service data 180d: 42
              6, 0x20, 0x78, 0x56, 0x34, 0x12, 0x01, // service data 32
              5, 0xFF, 0x59, 0x00, 0xAB, 0xCD};      // manufacturer 0x0059
  AdvertisingData d;
  decode_advertising_data(ad, d);
  EXPECT_EQ(d.malformed, 0u);
  ASSERT_TRUE(d.flags);
  EXPECT_EQ(*d.flags, 0x06);
  ASSERT_EQ(d.services.size(), 4u);
  EXPECT_EQ(d.services[0].str(), "180d");
  EXPECT_EQ(d.services[1].str(), "180f");
  EXPECT_EQ(d.services[2].str(), "12345678");
  EXPECT_EQ(d.services[3].str(), "0000fff0-0000-1000-8000-00805f9b34fb");
  EXPECT_TRUE(d.services[3].same(*Uuid::parse("fff0")));
  EXPECT_TRUE(d.services_complete);
  EXPECT_EQ(d.name, "HRM-PX");
  EXPECT_TRUE(d.name_complete);
  EXPECT_EQ(*d.tx_power, -4);
  EXPECT_EQ(*d.appearance, 832);
  ASSERT_EQ(d.service_data.size(), 2u);
  EXPECT_EQ(d.service_data[0].uuid.str(), "180d");
  EXPECT_EQ(d.service_data[0].data.size(), 1u);
  EXPECT_EQ(d.service_data[1].uuid.str(), "12345678");
  EXPECT_EQ(*d.manufacturer_id, 0x0059);
  EXPECT_EQ(d.manufacturer_data.size(), 2u);
}

TEST(AdvertisingData, MalformedStructuresAreSkippedAndCounted) {
  Bytes ad = {4, 0x03, 0x0D, 0x18, 0x0F,  // 16-bit list of 3 bytes: malformed
              1, 0x0A,                    // TX power without its byte
              2, 0x09, 'A',               // fine
              2, 0xFF, 0x59,              // manufacturer data without a full company id
              9, 0x09, 'x'};              // runs past the end
  AdvertisingData d;
  decode_advertising_data(ad, d);
  EXPECT_EQ(d.malformed, 4u);
  EXPECT_TRUE(d.services.empty());
  EXPECT_FALSE(d.tx_power);
  EXPECT_FALSE(d.manufacturer_id);
  EXPECT_EQ(d.name, "A");
}

TEST(AdvertisingData, ZeroLengthEndsTheDataWithoutError) {
  Bytes ad = {2, 0x01, 0x06, 0, 0, 0, 0};
  AdvertisingData d;
  decode_advertising_data(ad, d);
  EXPECT_EQ(d.malformed, 0u);
  EXPECT_EQ(d.structures, 1u);
}

TEST(AdvertisingData, UuidTextRoundTrips) {
  for (const char* s : {"180d", "12345678", "6e400001-b5a3-f393-e0a9-e50e24dcca9e"}) {
    auto u = Uuid::parse(s);
    ASSERT_TRUE(u) << s;
    EXPECT_EQ(u->str(), s);
  }
  EXPECT_FALSE(Uuid::parse("18g0"));
  EXPECT_FALSE(Uuid::parse("180"));
  EXPECT_TRUE(Uuid::parse("180D"));
}

TEST(JsonText, InvalidUtf8BecomesReplacementCharacter) {
  std::string out;
  json_text::append_string(out, std::string("a\"\\\x01\xC3\xA9\xFF", 7));
  EXPECT_EQ(out, "\"a\\\"\\\\\\u0001\xC3\xA9\\ufffd\"");
}

TEST(SimWire, EncodedAdvertReportDecodesThroughTheRadioPath) {
  sim::Advert a;
  a.name = "HRM-7";
  a.services = {*Uuid::parse("180d")};
  a.manufacturer_id = 0x0059;
  a.manufacturer_data = {1, 2};
  auto ad = sim::encode_ad(a);
  ASSERT_TRUE(ad) << ad.error().message;
  BdAddr addr;
  ASSERT_TRUE(BdAddr::parse("c4:7c:8d:6a:3e:01", addr));
  auto frame = sim::encode_adv_report_event(addr, 0, -55, *ad);
  ASSERT_TRUE(frame);
  sim::H4Framer framer;
  // Delivered in two pieces, as a stream may.
  framer.feed(std::span(frame->data(), 5));
  EXPECT_TRUE(framer.next().empty());
  framer.feed(std::span(frame->data() + 5, frame->size() - 5));
  auto ev = framer.next();
  ASSERT_FALSE(ev.empty());
  std::vector<AdvReport> out;
  ASSERT_EQ(decode_advertising_event(ev, out), EventDecode::ok);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].addr, addr);
  EXPECT_EQ(out[0].rssi, -55);
  AdvertisingData d;
  decode_advertising_data(out[0].data, d);
  EXPECT_EQ(d.name, "HRM-7");
  EXPECT_EQ(*d.manufacturer_id, 0x0059);
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.malformed, 0u);
}

TEST(SimWire, NonEventPacketIsAProtocolError) {
  sim::H4Framer framer;
  Bytes acl = {0x02, 0x40, 0x00, 0x00, 0x00};
  framer.feed(acl);
  EXPECT_TRUE(framer.next().empty());
  EXPECT_TRUE(framer.error());
}

TEST(SimWire, AdvertTooLargeIsRefused) {
  sim::Advert a;
  a.name = std::string(40, 'x');
  EXPECT_FALSE(sim::encode_ad(a));
}

TEST(SimWire, HelloLineRoundTrips) {
  auto gw = sim::parse_hello(sim::hello_line("gw-2"));
  ASSERT_TRUE(gw);
  EXPECT_EQ(*gw, "gw-2");
  EXPECT_FALSE(sim::parse_hello("C4I-SIM 2 gw-2\n"));
  EXPECT_FALSE(sim::parse_hello("HELLO gw-2\n"));
  EXPECT_FALSE(sim::parse_hello("C4I-SIM 1 \n"));
}

}  // namespace
}  // namespace c4i::discovery
