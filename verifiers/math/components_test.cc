// Unit tests of the math verifier's stages: extraction, normalisation, parsing and
// equivalence. Expected values are written by hand.
#include <gtest/gtest.h>

#include "verifiers/math/equivalence.h"
#include "verifiers/math/extract.h"
#include "verifiers/math/lexer.h"
#include "verifiers/math/normalize.h"
#include "verifiers/math/parser.h"

namespace rlvr::math {
namespace {

std::string Extracted(const std::string& text, ExtractOptions options = {}) {
  auto e = ExtractAnswer(text, options);
  return e ? e->method + ":" + e->text : "none";
}

TEST(Extract, PriorityAndRightmostMatch) {
  EXPECT_EQ(Extracted("\\boxed{1} then \\boxed{\\frac{a}{\\sqrt{b}}}"),
            "boxed:\\frac{a}{\\sqrt{b}}");
  EXPECT_EQ(Extracted("\\fbox{7}"), "boxed:7");
  EXPECT_EQ(Extracted("so \\boxed 5 ok"), "boxed:5");
  EXPECT_EQ(Extracted("\\boxed{\\{1,2\\}}"), "boxed:\\{1,2\\}");
  EXPECT_EQ(Extracted("Final Answer: The final answer is $3$. I hope it is correct."),
            "final_answer:$3$");
  EXPECT_EQ(Extracted("a\n#### 1,234\n"), "gsm8k:1,234");
  EXPECT_EQ(Extracted("**Answer:** 12"), "answer_colon:12");
  EXPECT_EQ(Extracted("答案是 12。"), "chinese:12");
  EXPECT_EQ(Extracted("we get $x$ and $y = 2$"), "latex:y = 2");
  EXPECT_EQ(Extracted("\\(a\\) then \\[b+1\\]"), "latex:b+1");
  EXPECT_EQ(Extracted("costs \\$5 in total 12"), "last_number:12");
  EXPECT_EQ(Extracted("values 3, then -1,234.5 and x2"), "last_number:-1,234.5");
  EXPECT_EQ(Extracted("nothing here"), "none");
  ExtractOptions only_numbers;
  only_numbers.priority = {"last_number"};
  EXPECT_EQ(Extracted("\\boxed{9} but 10", only_numbers), "last_number:10");
}

TEST(Extract, AnswerIsPhraseBeatsALaterNumber) {
  EXPECT_EQ(Extracted("The answer is 5, not 6."), "answer_is:5");
  EXPECT_EQ(Extracted("The answer is $5$, not $6$."), "answer_is:5");
  EXPECT_EQ(Extracted("The answer is 12 because 3 * 4 = 12, not 13."), "answer_is:12");
  EXPECT_EQ(Extracted("The answer is (1, 2), which is the vertex."), "answer_is:(1, 2)");
  EXPECT_EQ(Extracted("The answer is 2, 3, and 4."), "answer_is:2, 3, and 4");
  EXPECT_EQ(Extracted("so the answer is x = 3."), "answer_is:x = 3");
  EXPECT_EQ(Extracted("The answer is not obvious; x = 7"), "last_number:7");
  EXPECT_EQ(Extracted("The answer is a bit tricky: 7"), "last_number:7");
  EXPECT_EQ(Extracted("\\boxed{6}. The answer is 5, not 6."), "boxed:6");
  EXPECT_EQ(Extracted("The answer is: 33"), "answer_is:33");
}

TEST(Extract, SpaceThousandsSeparatorInTheLastNumber) {
  EXPECT_EQ(Extracted("He has 1 000 dollars"), "last_number:1 000");
  EXPECT_EQ(Extracted("about 12 345 678 people"), "last_number:12 345 678");
  EXPECT_EQ(Extracted("pairs 2 3"), "last_number:3");
  EXPECT_EQ(Extracted("then 1000 000"), "last_number:000");
  EXPECT_EQ(Extracted("then 1 0000"), "last_number:0000");
}

TEST(Extract, UnclosedBoxIsNoAnswer) {
  EXPECT_TRUE(EndsInsideBox("so \\boxed{12"));
  EXPECT_TRUE(EndsInsideBox("\\boxed{3} then \\boxed{\\frac{1}{2}"));
  EXPECT_TRUE(EndsInsideBox("\\fbox{"));
  EXPECT_TRUE(EndsInsideBox("the answer is \\boxed"));
  EXPECT_FALSE(EndsInsideBox("\\boxed{\\{1\\}}"));
  EXPECT_FALSE(EndsInsideBox("\\boxed 5"));
  EXPECT_FALSE(EndsInsideBox("\\boxedx{ 5"));
  EXPECT_FALSE(EndsInsideBox("no box { here"));
  EXPECT_EQ(Extracted("so \\boxed{12"), "none");
  EXPECT_EQ(Extracted("\\boxed{3}. Wait: \\boxed{4"), "none");
  EXPECT_EQ(Extracted("\\boxed{5 ... and 6"), "none");
  ExtractOptions no_box;
  no_box.priority = {"last_number"};
  EXPECT_EQ(Extracted("so \\boxed{12", no_box), "last_number:12");
}

TEST(Extract, GoldIsBareBoxedOrASolution) {
  EXPECT_EQ(ExtractGold("  \\frac{1}{2} ")->text, "\\frac{1}{2}");
  EXPECT_EQ(ExtractGold("so $x=\\boxed{3}$.")->text, "3");
  EXPECT_EQ(ExtractGold("48/2 = 24\n#### 72")->text, "72");
  EXPECT_FALSE(ExtractGold(" \n ").has_value());
}

TEST(Extract, ChoiceLetters) {
  EXPECT_EQ(ExtractChoiceLetter("\\boxed{\\textbf{(C)}}", 5), 'C');
  EXPECT_EQ(ExtractChoiceLetter("the answer is (D) 12", 5), 'D');
  EXPECT_EQ(ExtractChoiceLetter("Answer: B", 5), 'B');
  EXPECT_EQ(ExtractChoiceLetter("(F)", 5), std::nullopt);
  EXPECT_EQ(ExtractChoiceLetter("\\boxed{12}", 4, {"10", "11", "12", "13"}), 'C');
}

TEST(Normalize, TokenAwareRemoval) {
  EXPECT_EQ(Normalize("\\left(\\alpha, \\beta\\right]").text, "(\\alpha,\\beta]");
  EXPECT_EQ(Normalize("\\leftarrow").text, "\\leftarrow");
  EXPECT_EQ(Normalize("\\dfrac{1}{2}").text, "\\frac{1}{2}");
  EXPECT_EQ(Normalize("$\\;x = 3\\,$.").text, "x=3");
  EXPECT_EQ(Normalize("\\text{ Monday }").text, "\\text{monday}");
  EXPECT_EQ(Normalize("\\infty").text, "\\infty");
  EXPECT_EQ(Normalize("\\sqrt{\\alpha}\\pi").text, "\\sqrt{\\alpha}\\pi");
}

TEST(Normalize, UnitsDegreesPercentCurrency) {
  Normalized n = Normalize("45^{\\circ}");
  EXPECT_EQ(n.text, "45");
  EXPECT_TRUE(n.degrees);
  n = Normalize("12.5\\%");
  EXPECT_EQ(n.text, "12.5");
  EXPECT_TRUE(n.percent);
  EXPECT_EQ(Normalize("\\$1,234.50").text, "1234.50");
  EXPECT_EQ(Normalize("10,\\!000").text, "10000");
  EXPECT_EQ(Normalize("5\\text{ cm}^2").text, "5");
  EXPECT_EQ(Normalize("7 apples").text, "7");
  EXPECT_EQ(Normalize("(1,234)").text, "(1,234)");
  EXPECT_EQ(Normalize("1, 234").text, "1,234") << "a spaced list stays a list";
  EXPECT_EQ(Normalize("1 000 dollars").text, "1000");
  EXPECT_EQ(Normalize("1 000 000").text, "1000000");
  EXPECT_EQ(Normalize("-12 345.5").text, "-12345.5");
  EXPECT_EQ(Normalize("2 1/2").text, "2\\frac{1}{2}");
  EXPECT_EQ(Normalize("1 2").text, "1 2");
  EXPECT_EQ(Normalize("3,5", {.decimal_comma = true}).text, "3.5");
}

std::string Tree(const std::string& s) {
  auto n = Parse(Normalize(s).text);
  return n.ok() ? DebugString(*n) : "error: " + std::string(n.status().message());
}

TEST(Parser, Structures) {
  EXPECT_EQ(Tree("2x+1"), "(add (mul 2 x) 1)");
  EXPECT_EQ(Tree("\\frac12"), "(div 1 2)");
  EXPECT_EQ(Tree("2\\frac{1}{2}"), "(add 2 (div 1 2))");
  EXPECT_EQ(Tree("-2^2"), "(neg (pow 2 2))");
  EXPECT_EQ(Tree("\\sin^2 x"), "(pow (func:sin x) 2)");
  EXPECT_EQ(Tree("\\log_2 8"), "(func:log 8 2)");
  EXPECT_EQ(Tree("\\sqrt[3]{x}"), "(func:root x 3)");
  EXPECT_EQ(Tree("(1,2]"), "(interval(] 1 2)");
  EXPECT_EQ(Tree("(1,2)"), "(pair 1 2)");
  EXPECT_EQ(Tree("\\{1,2\\}"), "(set 1 2)");
  EXPECT_EQ(Tree("1, 2"), "(list 1 2)");
  EXPECT_EQ(Tree("a \\pm b"), "(pm a b)");
  EXPECT_EQ(Tree("-1 < x \\le 2"), "(rel:< <= -1 x 2)");
  EXPECT_EQ(Tree("\\begin{pmatrix}1&2\\end{pmatrix}"), "(matrix 1 2)");
  EXPECT_EQ(Tree("x_{12}"), "x_12");
  EXPECT_EQ(Tree("\\binom{5}{2}"), "(binom 5 2)");
  EXPECT_EQ(Tree("0.\\overline{3}"), "(div (add 03 -0) 9)");  // (3 - 0)/9
  EXPECT_EQ(Tree("(1"), "error: unclosed bracket");
  EXPECT_EQ(Tree("\\frac{1}"), "error: missing argument");
}

Outcome Cmp(const std::string& a, const std::string& b, EquivalenceOptions o = {}) {
  auto x = Parse(Normalize(a).text);
  auto y = Parse(Normalize(b).text);
  EXPECT_TRUE(x.ok() && y.ok()) << a << " | " << b;
  return Compare(*x, *y, o).outcome;
}

TEST(Equivalence, ExactNumericSymbolic) {
  EXPECT_EQ(Cmp("1/2004!", "1/2006!"), Outcome::kUnequal);
  EXPECT_EQ(Cmp("1e-10", "2e-10"), Outcome::kUnequal);
  EXPECT_EQ(Cmp("3x - y + 13 = 0", "3x + 4y + 14 = 0"), Outcome::kUnequal);
  EXPECT_EQ(Cmp("3x - y + 13 = 0", "2y = 6x + 26"), Outcome::kEqual);
  EXPECT_EQ(Cmp("\\sqrt{12}", "2\\sqrt{3}"), Outcome::kEqual);
  EXPECT_EQ(Cmp("(x+1)^3", "x^3+3x^2+3x+1"), Outcome::kEqual);
  EXPECT_EQ(Cmp("\\pi", "3.1416"), Outcome::kUnequal);
  EXPECT_EQ(Cmp("\\pi", "3.1416", {.rel_tol = 1e-4}), Outcome::kEqual);
}

}  // namespace
}  // namespace rlvr::math
