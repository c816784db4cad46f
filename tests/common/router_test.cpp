#include "common/router.hpp"

#include <gtest/gtest.h>

namespace c4i::http {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nodes_ = r_.add("GET", "/v1/nodes");
    node_ = r_.add("GET", "/v1/nodes/{name}");
    fn_ = r_.add("GET", "/v1/functions/{id}");
    del_ = r_.add("DELETE", "/v1/functions/{id}");
    move_ = r_.add("POST", "/v1/functions/{id}:move");
    events_ = r_.add("POST", "/v1/gateways/{gateway}/events");
    root_ = r_.add("GET", "/");
  }
  Router r_;
  std::size_t nodes_, node_, fn_, del_, move_, events_, root_;
};

TEST_F(RouterTest, LiteralPathMatches) {
  auto m = r_.match("GET", "/v1/nodes");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route, nodes_);
  EXPECT_TRUE(m.params.empty());
}

TEST_F(RouterTest, RootMatches) {
  auto m = r_.match("GET", "/");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route, root_);
}

TEST_F(RouterTest, ParameterIsCaptured) {
  auto m = r_.match("POST", "/v1/gateways/gw-1/events");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route, events_);
  EXPECT_EQ(m.params.at("gateway"), "gw-1");
}

TEST_F(RouterTest, CustomVerbSuffixSplitsFromParameter) {
  auto m = r_.match("POST", "/v1/functions/hr-aa:move");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route, move_);
  EXPECT_EQ(m.params.at("id"), "hr-aa");
}

TEST_F(RouterTest, PlainParameterDoesNotSwallowCustomVerb) {
  auto m = r_.match("GET", "/v1/functions/hr-aa:move");
  EXPECT_EQ(m.outcome, Router::Outcome::method_not_allowed);
  EXPECT_EQ(m.allowed, std::vector<std::string>{"POST"});
}

TEST_F(RouterTest, ParameterWithColonButNoRouteVerbStillMatches) {
  auto m = r_.match("GET", "/v1/functions/a:b");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.params.at("id"), "a:b");
}

TEST_F(RouterTest, WrongMethodListsAllowedMethods) {
  auto m = r_.match("PUT", "/v1/functions/x");
  ASSERT_EQ(m.outcome, Router::Outcome::method_not_allowed);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "DELETE"}));
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  EXPECT_EQ(r_.match("GET", "/v2/nodes").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r_.match("GET", "/v1/nodes/a/b").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r_.match("GET", "/v1/nodes/").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r_.match("GET", "/v1//nodes").outcome, Router::Outcome::not_found);
}

TEST_F(RouterTest, EmptyParameterDoesNotMatch) {
  EXPECT_EQ(r_.match("POST", "/v1/functions/:move").outcome, Router::Outcome::not_found);
}

TEST_F(RouterTest, ParametersArePercentDecoded) {
  auto m = r_.match("GET", "/v1/nodes/gw%2D1%20a");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.params.at("name"), "gw-1 a");
}

TEST_F(RouterTest, MalformedEscapeIsBadPath) {
  EXPECT_EQ(r_.match("GET", "/v1/nodes/a%2").outcome, Router::Outcome::bad_path);
  EXPECT_EQ(r_.match("GET", "/v1/nodes/a%zz").outcome, Router::Outcome::bad_path);
  EXPECT_EQ(r_.match("GET", "/v1/nodes/a%00").outcome, Router::Outcome::bad_path);
  EXPECT_EQ(r_.match("GET", "nodes").outcome, Router::Outcome::bad_path);
  EXPECT_EQ(r_.match("GET", "").outcome, Router::Outcome::bad_path);
}

TEST_F(RouterTest, LiteralBeatsParameter) {
  Router r;
  auto p = r.add("GET", "/v1/policy/{x}");
  auto h = r.add("GET", "/v1/policy/history");
  EXPECT_EQ(r.match("GET", "/v1/policy/history").route, h);
  EXPECT_EQ(r.match("GET", "/v1/policy/other").route, p);
}

TEST(RouterPatterns, MalformedPatternsAreProgrammingErrors) {
  Router r;
  EXPECT_THROW(r.add("GET", "v1"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/v1//x"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/v1/{}"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/v1/{id"), std::invalid_argument);
}

}  // namespace
}  // namespace c4i::http
