// Op-level behaviour that finite differences cannot see: shapes of results, errors.
#include <doctest/doctest.h>

#include "autograd/engine.h"
#include "autograd/ops.h"

using namespace contra;

TEST_CASE("reduction result shapes") {
  Tensor x = Tensor::ones({2, 3, 4});
  CHECK(sum(x, {1}).shape() == Shape{2, 4});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1, 4});
  CHECK(mean(x, {0, -1}).shape() == Shape{3});
  CHECK(max(x).shape() == Shape{});
  CHECK(logsumexp(x, {2}, true).shape() == Shape{2, 3, 1});
  CHECK_THROWS_WITH_AS(sum(x, {1, 1}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_WITH_AS(sum(x, {3}), doctest::Contains("out of range"), Error);
}

TEST_CASE("shape op results and errors") {
  Tensor x = Tensor::ones({2, 3, 4});
  CHECK(permute(x, {2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK_THROWS_WITH_AS(permute(x, {0, 0, 1}), doctest::Contains("twice"), Error);
  CHECK(flatten(x, 1).shape() == Shape{2, 12});
  CHECK(unsqueeze(x, -1).shape() == Shape{2, 3, 4, 1});
  CHECK(squeeze(unsqueeze(x, 0), 0).shape() == Shape{2, 3, 4});
  CHECK_THROWS_AS(squeeze(x, 0), Error);
  CHECK(slice(x, 2, 1, 100, 2).shape() == Shape{2, 3, 2});
  CHECK(slice(x, 2, -2, 4).shape() == Shape{2, 3, 2});
  CHECK_THROWS_AS(expand(x, {3, 3, 4}), Error);
  CHECK_THROWS_WITH_AS(Tensor::ones({2}) + Tensor::ones({3}), doctest::Contains("do not broadcast"), Error);
}

TEST_CASE("sum_to is the adjoint of broadcasting") {
  Tensor g = Tensor::ones({4, 2, 3});
  CHECK(sum_to(g, {2, 3}).to_vector<float>() == std::vector<float>(6, 4.0f));
  CHECK(sum_to(g, {2, 1}).to_vector<float>() == std::vector<float>{12, 12});
  CHECK(sum_to(g, {}).item() == 24);
}

TEST_CASE("an op error names the op, the shapes and a hint") {
  try {
    matmul(Tensor::ones({2, 3}), Tensor::ones({2, 3}));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.where() == "matmul");
    CHECK(std::string(e.what()).find("(2, 3)") != std::string::npos);
  }
}
