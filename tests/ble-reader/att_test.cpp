#include "ble-reader/att.hpp"

#include <gtest/gtest.h>

namespace c4i::reader::att {
namespace {

TEST(AttPdu, ExchangeMtuRoundTrips) {
  auto req = encode_exchange_mtu_req(247);
  EXPECT_EQ(req, (Bytes{0x02, 0xF7, 0x00}));
  auto mtu = parse_exchange_mtu(encode_exchange_mtu_rsp(185));
  ASSERT_TRUE(mtu);
  EXPECT_EQ(*mtu, 185);
  EXPECT_FALSE(parse_exchange_mtu(Bytes{0x03, 0xB9}));
  EXPECT_FALSE(parse_exchange_mtu(Bytes{0x03, 0xB9, 0x00, 0x00}));
}

TEST(AttPdu, ReadByGroupTypeRequestCarries16BitAnd128BitTypes) {
  EXPECT_EQ(encode_read_by_group_type_req(1, 0xFFFF, Uuid::from16(0x2800)),
            (Bytes{0x10, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0x28}));
  auto u = Uuid::parse("0000fff0-0000-1000-8000-00805f9b34fc");
  ASSERT_TRUE(u);
  EXPECT_EQ(encode_read_by_type_req(1, 2, *u).size(), 21u);
  auto parsed = parse_typed_range_req(encode_read_by_type_req(1, 2, *u));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->type, *u);
}

// A Read By Group Type Response as captured from the DSD6 tracker: three 16-bit services.
TEST(AttPdu, ReadByGroupTypeResponseParsesEveryGroup) {
  Bytes rsp{0x11, 0x06, 0x01, 0x00, 0x07, 0x00, 0x00, 0x18, 0x08, 0x00, 0x08, 0x00,
            0x01, 0x18, 0x09, 0x00, 0x0E, 0x00, 0x01, 0x00};
  auto g = parse_read_by_group_type_rsp(rsp);
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->size(), 3u);
  EXPECT_EQ((*g)[0].start, 1);
  EXPECT_EQ((*g)[0].end, 7);
  EXPECT_EQ(Uuid::from_le((*g)[1].value)->str(), "1801");
  EXPECT_EQ((*g)[2].end, 0x0E);
}

TEST(AttPdu, ReadByGroupTypeResponseRejectsBadLengths) {
  EXPECT_FALSE(parse_read_by_group_type_rsp(Bytes{0x11}));
  EXPECT_FALSE(parse_read_by_group_type_rsp(Bytes{0x11, 0x06}));                          // no entries
  EXPECT_FALSE(parse_read_by_group_type_rsp(Bytes{0x11, 0x06, 1, 0, 7, 0, 0}));           // short entry
  EXPECT_FALSE(parse_read_by_group_type_rsp(Bytes{0x11, 0x03, 1, 0, 7}));                 // length < 4
  EXPECT_FALSE(parse_read_by_group_type_rsp(Bytes{0x11, 0x06, 5, 0, 4, 0, 0x00, 0x18}));  // end < start
}

TEST(AttPdu, ReadByTypeResponseYieldsCharacteristicDeclarations) {
  // Handle 0x0005: notify, value handle 0x0006, UUID 0x2A37.
  Bytes rsp{0x09, 0x07, 0x05, 0x00, 0x10, 0x06, 0x00, 0x37, 0x2A};
  auto e = parse_read_by_type_rsp(rsp);
  ASSERT_TRUE(e);
  ASSERT_EQ(e->size(), 1u);
  auto d = parse_characteristic_decl((*e)[0].handle, (*e)[0].value);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->properties, kPropNotify);
  EXPECT_EQ(d->value_handle, 6);
  EXPECT_EQ(d->uuid.str(), "2a37");
  EXPECT_FALSE(parse_characteristic_decl(5, (*e)[0].value.subspan(1)));
  EXPECT_FALSE(parse_read_by_type_rsp(Bytes{0x09, 0x07, 0x05, 0x00, 0x10}));
  EXPECT_FALSE(parse_read_by_type_rsp(Bytes{0x09, 0x01, 0x05}));
}

TEST(AttPdu, FindInformationResponseHandlesBothFormats) {
  auto a = parse_find_info_rsp(Bytes{0x05, 0x01, 0x07, 0x00, 0x02, 0x29});
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)[0].handle, 7);
  EXPECT_EQ((*a)[0].type, Uuid::from16(0x2902));
  Bytes b{0x05, 0x02, 0x08, 0x00};
  for (int i = 0; i < 16; ++i) b.push_back(static_cast<std::uint8_t>(i));
  auto p = parse_find_info_rsp(b);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->front().type.is16());
  EXPECT_FALSE(parse_find_info_rsp(Bytes{0x05, 0x03, 0x07, 0x00, 0x02, 0x29}));
  EXPECT_FALSE(parse_find_info_rsp(Bytes{0x05, 0x01, 0x07, 0x00, 0x02}));
}

TEST(AttPdu, HandleValueNotificationAndIndication) {
  auto n = parse_handle_value(Bytes{0x1B, 0x0B, 0x00, 0x41, 0x42});
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->indication);
  EXPECT_EQ(n->handle, 0x0B);
  EXPECT_EQ(n->value.size(), 2u);
  auto i = parse_handle_value(encode_handle_value(Opcode::handle_value_ind, 6, Bytes{}));
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->indication);
  EXPECT_TRUE(i->value.empty());
  EXPECT_FALSE(parse_handle_value(Bytes{0x1B, 0x0B}));
  EXPECT_FALSE(parse_handle_value(Bytes{0x1E}));
  EXPECT_EQ(encode_confirmation(), Bytes{0x1E});
}

TEST(AttPdu, WriteRequestAndCommand) {
  const std::uint8_t on[2] = {0x01, 0x00};
  EXPECT_EQ(encode_write_req(7, on), (Bytes{0x12, 0x07, 0x00, 0x01, 0x00}));
  EXPECT_EQ(encode_write_cmd(0x0E, on)[0], 0x52);
  auto w = parse_write(encode_write_req(7, on));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->handle, 7);
  EXPECT_EQ(w->value.size(), 2u);
  EXPECT_FALSE(parse_write(Bytes{0x12, 0x07}));
}

TEST(AttPdu, ErrorResponseParsesAndEveryCodeHasAClearName) {
  auto e = parse_error_rsp(encode_error_rsp(0x0A, 0x0009, 0x05));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->request_opcode, 0x0A);
  EXPECT_EQ(e->handle, 9);
  EXPECT_EQ(e->code, 0x05);
  EXPECT_FALSE(parse_error_rsp(Bytes{0x01, 0x0A, 0x09, 0x00}));
  EXPECT_FALSE(parse_error_rsp(Bytes{0x01, 0x0A, 0x09, 0x00, 0x05, 0x00}));
  // Core v5.3, Vol 3, Part F, Table 3.4: 0x01..0x13 are defined.
  const char* names[] = {"Invalid Handle", "Read Not Permitted", "Write Not Permitted", "Invalid PDU",
                         "Insufficient Authentication", "Request Not Supported", "Invalid Offset",
                         "Insufficient Authorization", "Prepare Queue Full", "Attribute Not Found",
                         "Attribute Not Long", "Encryption Key Size Too Short", "Invalid Attribute Value Length",
                         "Unlikely Error", "Insufficient Encryption", "Unsupported Group Type",
                         "Insufficient Resources", "Database Out Of Sync", "Value Not Allowed"};
  for (int c = 1; c <= 0x13; ++c) {
    EXPECT_EQ(error_name(static_cast<std::uint8_t>(c)), names[c - 1]);
    EXPECT_NE(error_description(static_cast<std::uint8_t>(c)), "an error code this client does not know");
  }
  EXPECT_EQ(error_name(0x80), "Application Error 0x80");
  EXPECT_EQ(error_name(0xFD), "Client Characteristic Configuration Descriptor Improperly Configured");
  EXPECT_EQ(error_name(0x14), "Reserved Error 0x14");
}

TEST(AttPdu, RequestsKnowTheirResponses) {
  EXPECT_EQ(response_for(0x10), 0x11);
  EXPECT_EQ(response_for(0x12), 0x13);
  EXPECT_EQ(response_for(0x52), 0);
  EXPECT_TRUE(is_request(0x02));
  EXPECT_FALSE(is_request(0x1B));
  EXPECT_EQ(opcode_name(0x1D), "Handle Value Indication");
  EXPECT_EQ(opcode_name(0x42), "opcode 0x42");
}

TEST(Uuid, SixteenBitAliasesEqualTheirBaseUuidForm) {
  auto a = Uuid::parse("2A37");
  auto b = Uuid::parse("00002a37-0000-1000-8000-00805f9b34fb");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(b->str(), "2a37");
  EXPECT_FALSE(Uuid::parse("2a3"));
  EXPECT_FALSE(Uuid::parse("zz37"));
  auto custom = Uuid::parse("6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->str(), "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  std::vector<std::uint8_t> le;
  custom->append_le(le);
  EXPECT_EQ(le.front(), 0x9E);
  EXPECT_EQ(*Uuid::from_le(le), *custom);
}

}  // namespace
}  // namespace c4i::reader::att
