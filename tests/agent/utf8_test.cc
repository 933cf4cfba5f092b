#include "agent/data/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace tessera::agent::data {
namespace {

TEST(Utf8Test, AcceptsTheExamplesOfRfc3629) {
  // RFC 3629 section 7: "A<NOT IDENTICAL TO><ALPHA>.", Korean "hangugeo",
  // Japanese "nihongo", and U+233B4 preceded by a BOM.
  EXPECT_TRUE(IsValidUtf8("\x41\xE2\x89\xA2\xCE\x91\x2E"));
  EXPECT_TRUE(IsValidUtf8("\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4"));
  EXPECT_TRUE(IsValidUtf8("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"));
  EXPECT_TRUE(IsValidUtf8("\xEF\xBB\xBF\xF0\xA3\x8E\xB4"));
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // U+0000 is a character
}

TEST(Utf8Test, AcceptsTheEndsOfEachRangeOfRfc3629Section4) {
  // The UTF8-2/3/4 productions of RFC 3629 section 4 at their edges.
  EXPECT_TRUE(IsValidUtf8("\x7F"));              // U+007F
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));          // U+0080
  EXPECT_TRUE(IsValidUtf8("\xDF\xBF"));          // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));      // U+0800
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
}

TEST(Utf8Test, RejectsTheIllFormedSequencesOfTheUnicodeStandard) {
  // The Unicode Standard, section 3.9 "U+FFFD Substitution of Maximal
  // Subparts": its example tables of non-shortest forms, surrogates, other
  // ill-formed sequences and truncated sequences, each ending in ASCII.
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41"));  // overlongs
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41"));  // surrogates
  EXPECT_FALSE(IsValidUtf8("\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41"));  // truncations
}

TEST(Utf8Test, RejectsEachKindOfIllFormedSequenceAlone) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // stray continuation byte
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong U+0000 (RFC 3629 section 10)
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // overlong U+007F
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // overlong U+07FF
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800, a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // overlong U+FFFF
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));  // F5..FF never appear
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xE6\x97"));          // truncated at the end
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));          // continuation byte missing
  // Latin-1 "café", the usual mistake in exports from older systems.
  EXPECT_FALSE(IsValidUtf8("caf\xE9"));
}

TEST(Utf8Test, FindsABadByteAfterALongAsciiRun) {
  // The eight-bytes-at-a-time ASCII path must hand over at every offset.
  for (size_t prefix = 0; prefix < 20; ++prefix) {
    std::string text(prefix, 'a');
    EXPECT_TRUE(IsValidUtf8(text + "\xC3\xA9" + "tail")) << prefix;
    EXPECT_FALSE(IsValidUtf8(text + "\xE9" + "tail")) << prefix;
    EXPECT_FALSE(IsValidUtf8(text + "\xC3")) << prefix;
  }
}

}  // namespace
}  // namespace tessera::agent::data
