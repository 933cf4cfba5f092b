// Arithmetic in the binary field GF(2^16) = GF(2)[x] / (x^16 + x^12 + x^3 +
// x + 1), the field Shamir sharing works in (crypto/shamir.h). The modulus is
// a primitive polynomial (x generates the multiplicative group of order
// 65535; tests/crypto/shamir_test.cc checks this), so every nonzero element
// has an inverse.
//
// Addition is XOR. Multiplication is shift-and-add with masked reduction:
// no tables and no branches on the operands, so the time taken does not
// depend on secret values. Lanes hold the 16 coordinates of a 32-byte secret
// and are multiplied by one public scalar at a time (a Horner step or a
// Lagrange coefficient), which compilers vectorise.
//
// Thread-safety: stateless.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace tessera::crypto::gf65536 {

// x^16 + x^12 + x^3 + x + 1.
inline constexpr uint32_t kModulus = 0x1100B;
inline constexpr size_t kLanes = 16;
using Lanes = std::array<uint16_t, kLanes>;

// a * x mod the modulus, without branches.
inline uint16_t TimesX(uint16_t a) {
  const uint16_t carry = static_cast<uint16_t>(0u - (static_cast<uint32_t>(a) >> 15));
  return static_cast<uint16_t>((static_cast<uint32_t>(a) << 1) ^ (kModulus & carry));
}

// a * b in constant time (16 fixed iterations, masks instead of branches).
inline uint16_t Multiply(uint16_t a, uint16_t b) {
  uint16_t product = 0;
  for (int bit = 0; bit < 16; ++bit) {
    const uint16_t take = static_cast<uint16_t>(0u - ((static_cast<uint32_t>(b) >> bit) & 1u));
    product = static_cast<uint16_t>(product ^ (a & take));
    a = TimesX(a);
  }
  return product;
}

// a^-1 = a^(2^16 - 2) by a fixed square-and-multiply chain; 0 maps to 0.
inline uint16_t Inverse(uint16_t a) {
  uint16_t result = 1;
  uint16_t power = a;             // a^(2^i)
  for (int i = 1; i < 16; ++i) {  // 2^16 - 2 has bits 1..15 set
    power = Multiply(power, power);
    result = Multiply(result, power);
  }
  return result;
}

// lanes[i] * scalar for every lane.
inline Lanes MultiplyLanes(const Lanes& lanes, uint16_t scalar) {
  Lanes product{};
  Lanes shifted = lanes;
  for (int bit = 0; bit < 16; ++bit) {
    const uint16_t take = static_cast<uint16_t>(0u - ((static_cast<uint32_t>(scalar) >> bit) & 1u));
    for (size_t i = 0; i < kLanes; ++i) {
      product[i] = static_cast<uint16_t>(product[i] ^ (shifted[i] & take));
      shifted[i] = TimesX(shifted[i]);
    }
  }
  return product;
}

// accumulator[i] += lanes[i] (XOR).
inline void AddLanes(Lanes& accumulator, const Lanes& lanes) {
  for (size_t i = 0; i < kLanes; ++i) {
    accumulator[i] = static_cast<uint16_t>(accumulator[i] ^ lanes[i]);
  }
}

}  // namespace tessera::crypto::gf65536
