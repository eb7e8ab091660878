#!/usr/bin/env python3
"""Writes corpus.jsonl: the texts the tokenizer tests compare against HF `tokenizers`.

Deterministic (fixed seed); rerun only to change the corpus. Each line is {"text": ...}.
Covers English, Chinese, Japanese, Korean and other scripts, code in several languages,
LaTeX, long digit runs, whitespace runs (tabs, newlines, CRLF, Unicode spaces), emoji
with ZWJ sequences and modifiers, combining characters that NFC composes, special and
added tokens inside text, and contractions in odd cases.
"""
import json
import os
import random

random.seed(20240611)
texts = []

english = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you doing today?",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "I'm sure you'll agree: we've seen worse, and they'd say it's fine.",
    "IT'S LOUD. YOU'RE RIGHT. WE'VE WON. I'M HERE. THEY'LL COME. HE'D GO.",
    "It'S mIxEd CaSe: You'Re, we'Ve, I'm, they'LL, she'D, don'T.",
    "Contractions after digits: 5's and 7't, and after symbols: #'s @'re.",
    "Long s contraction: it'ſ odd, and a Kelvin sign: \u212a.",
    "Quotes: \u2018single\u2019 \u201cdouble\u201d \u00abguillemets\u00bb \u201elow\u201c.",
    "Dashes \u2013 en \u2014 em, ellipsis\u2026 and bullets \u2022 here.",
    "Mr. Smith paid $1,234.56 for 3.5 kg of coffee on 2024-01-15 at 10:30am.",
    "E-mail me at someone@example.com or visit https://example.org/path?q=1&r=2#frag.",
    "  leading spaces and trailing spaces   ",
    "multiple     spaces    between     words",
    "Tabs\tseparate\t\tcolumns\t\t\there",
    "Line one\nLine two\n\nLine four after a blank line\n",
    "Windows line endings\r\nsecond line\r\n\r\nfourth\r\n",
    "Old Mac line endings\rsecond\r\rthird",
    "Mixed \n\r\n \t \r whitespace \u00a0 non-breaking \u2003 em-space \u3000 ideographic",
    "Unicode spaces: a\u2000b\u2001c\u2002d\u2009e\u200af\u202fg\u205fh\u1680i\u0085j",
    "Zero width: a\u200bb\u200cc\u200dd\ufeffe and Mongolian \u180e separator a\u180e\u180eb",
    "ALL CAPS SENTENCE WITH NUMBERS 123 AND SYMBOLS !@#$%^&*()",
    "snake_case_identifier camelCaseIdentifier PascalCaseIdentifier kebab-case-identifier",
    "A sentence ending with many punctuation marks?!?!...",
    "",
    " ",
    "\n",
    "\t",
    "a",
    "'",
    "'s",
    "''",
]
texts += english

chinese = [
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002",
    "\u4eba\u5de5\u667a\u80fd\u6b63\u5728\u6539\u53d8\u4e16\u754c\uff0c\u5927\u8bed\u8a00\u6a21\u578b\u662f\u5176\u4e2d\u6700\u91cd\u8981\u7684\u6280\u672f\u4e4b\u4e00\u3002",
    "\u5df2\u77e5\u4e09\u89d2\u5f62\u7684\u4e24\u8fb9\u5206\u522b\u4e3a3\u548c4\uff0c\u6c42\u659c\u8fb9\u957f\u5ea6\u3002\u7b54\u6848\u662f5\u3002",
    "\u300a\u7ea2\u697c\u68a6\u300b\u662f\u4e2d\u56fd\u53e4\u5178\u5c0f\u8bf4\u7684\u5dc5\u5cf0\u4e4b\u4f5c\uff1b\u201c\u6ee1\u7eb8\u8352\u5510\u8a00\uff0c\u4e00\u628a\u8f9b\u9178\u6cea\u201d\u3002",
    "\u4e2d\u6587\u4e0eEnglish\u6df7\u5408mixed\u6587\u672ctext\uff0c\u8fd8\u6709\u6570\u5b57123\u548c\u7b26\u53f7\uff01",
    "\u7e41\u9ad4\u4e2d\u6587\uff1a\u81fa\u7063\u7684\u5929\u6c23\u5f88\u71b1\uff0c\u6211\u5011\u53bb\u6d77\u908a\u5427\u3002",
]
texts += chinese

japanese = [
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002\u3072\u3089\u304c\u306a\u3001\u30ab\u30bf\u30ab\u30ca\u3001\u6f22\u5b57\u304c\u6df7\u3056\u3063\u3066\u3044\u307e\u3059\u3002",
    "\u6771\u4eac\u30bf\u30ef\u30fc\u306f\u9ad8\u3055333\u30e1\u30fc\u30c8\u30eb\u3067\u3059\u3002\u30b3\u30f3\u30d4\u30e5\u30fc\u30bf\u30fc\u3092\u4f7f\u3044\u307e\u3057\u3087\u3046\uff01",
    "\u534a\u89d2\u30ab\u30ca: \uff8a\uff9d\uff76\uff78\uff76\uff85 \uff76\uff9e\uff77\uff9e \u5168\u89d2\u82f1\u6570: \uff21\uff22\uff23\uff11\uff12\uff13",
    "\u304b\u3099\u304d\u3099\u304f\u3099 (decomposed dakuten that NFC composes) \u30cf\u309a\u30d2\u309a",
]
texts += japanese

other_scripts = [
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
    "\u1100\u1161\u11a8 decomposed Hangul jamo \u1112\u1161\u11ab\u1100\u1173\u11af",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442: \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629: \u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663",
    "\u05e2\u05d1\u05e8\u05d9\u05ea: \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0939\u093f\u0928\u094d\u0926\u0940: \u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0967\u0968\u0969",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22: \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "Ti\u1ebfng Vi\u1ec7t: Xin ch\u00e0o th\u1ebf gi\u1edbi",
    "T\u00fcrk\u00e7e: \u0130stanbul \u0131\u015f\u0131k \u00e7ok g\u00fczel",
    "Deutsch: Stra\u00dfe, \u00c4pfel, \u00d6l, \u00dcbung",
]
texts += other_scripts

combining = [
    "cafe\u0301 (e + combining acute) vs caf\u00e9 (precomposed)",
    "A\u030a ngstr\u00f6m and the Angstrom sign \u212b and Ohm \u2126",
    "n\u0303 o\u0308 u\u0308 a\u0300 e\u0302 i\u0308",
    "Stacked: a\u0301\u0302\u0303\u0304 e\u0323\u0302 q\u0307\u0323",
    "\u0041\u030a\u0301 and \u1e9b\u0323 and \u0073\u0323\u0307",
    "\u0344 \u0340 \u0341 \u0343 (singleton decompositions)",
    "Vietnamese decomposed: Vie\u0323\u0302t Nam",
    "\u00bd \u2460 \ufb01 ligature and superscript x\u00b2",
]
texts += combining

emoji = [
    "Emoji: \U0001f600 \U0001f680 \U0001f389 \u2764\ufe0f \U0001f44d",
    "ZWJ family: \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 and \U0001f469\u200d\U0001f4bb",
    "Skin tones: \U0001f44b\U0001f3fb \U0001f44b\U0001f3ff and flags: \U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5",
    "Keycaps: 1\ufe0f\u20e3 #\ufe0f\u20e3 and rainbow flag \U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600",
    "Text with emoji in the middle\U0001f914of words",
    "Math symbols: \u2200x\u2208\u211d, \u2203y: x\u00b2+y\u00b2\u2264\u221e \u2211 \u222b \u221a",
    "Box drawing: \u250c\u2500\u2510 \u2502 \u2514\u2500\u2518 and arrows \u2190\u2191\u2192\u2193",
    "Private use \ue000 and supplementary CJK \U00020000\U0002a6d6",
]
texts += emoji

code = [
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, x=None, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n        self._x = x or {}\n",
    "import numpy as np\nx = np.arange(10).reshape(2, 5)\nprint(f\"{x.shape=} {x.sum():.3f}\")\n",
    "#include <iostream>\n#include <vector>\n\nint main(int argc, char** argv) {\n  std::vector<int> v{1, 2, 3};\n  for (auto& x : v) x *= 2;\n  std::cout << v[0] << std::endl;\n  return 0;\n}\n",
    "template <typename T>\nconstexpr T square(const T& x) noexcept { return x * x; }\n// comment with trailing spaces   \n",
    "fn main() {\n    let mut v: Vec<u32> = (0..10).collect();\n    v.iter_mut().for_each(|x| *x += 1);\n    println!(\"{:?}\", v);\n}\n",
    "function add(a, b) {\n\treturn a + b;\n}\nconst arrow = (x) => x ?? 0;\nconsole.log(`template ${arrow(1)}`);\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Println(<-ch)\n}\n",
    "SELECT u.id, COUNT(*) AS n\nFROM users u\nJOIN orders o ON o.user_id = u.id\nWHERE o.total > 100.00\nGROUP BY u.id\nHAVING n >= 2;\n",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  echo \"$f\" | tr 'a-z' 'A-Z' > \"${f%.txt}.out\"\ndone\n",
    "<html>\n  <body>\n    <div class=\"main\" id='x'>&lt;Hello&gt; &amp; welcome</div>\n  </body>\n</html>\n",
    "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\\n\"}}",
    "x = [i**2 for i in range(100) if i % 3 == 0]  # list comprehension\n\n\n\n    \n",
    "    indented with four spaces\n        eight spaces\n\t\ttwo tabs\n \t mixed\n",
    "if (a != b && c <= d || !e) { x >>= 2; y <<= 3; z ^= ~w; }",
    "public static void main(String[] args) throws IOException {\n    System.out.println(\"Hi\");\n}\n",
    "%% MATLAB comment\nA = [1 2; 3 4];\nB = A' * A;\ndisp(B(1, :));\n",
    "(defun fact (n) (if (<= n 1) 1 (* n (fact (- n 1)))))",
    "main :: IO ()\nmain = mapM_ print [x | x <- [1..10], even x]",
]
texts += code

latex = [
    "The solution is $x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}$.",
    "\\begin{align}\n  \\int_0^\\infty e^{-x^2}\\,dx &= \\frac{\\sqrt{\\pi}}{2} \\\\\n  \\sum_{n=1}^{\\infty} \\frac{1}{n^2} &= \\frac{\\pi^2}{6}\n\\end{align}",
    "Therefore the answer is \\boxed{42}.",
    "\\[ \\mathbb{E}[X] = \\sum_{i} x_i \\, p(x_i), \\quad \\operatorname{Var}(X) = \\mathbb{E}[X^2] - \\mathbb{E}[X]^2 \\]",
    "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\nHello $\\alpha + \\beta = \\gamma$\n\\end{document}",
    "$$\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1$$ and \\(a_{ij} = b^{k}_{l}\\)",
]
texts += latex

digits = [
    "1234567890",
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899",
    "The numbers 1 22 333 4444 55555 666666 7777777 88888888 999999999.",
    "1,000,000 and 1.000.000 and 1 000 000 and 1_000_000",
    "0x1F 0b1010 0o755 1e-9 -42 +7 3/4 2^10",
    "Arabic-Indic \u0661\u0662\u0663 Devanagari \u0967\u0968\u0969 fullwidth \uff11\uff12\uff13 Roman \u2160\u2161\u2162 circled \u2460\u2461",
    "".join(str(i % 10) for i in range(500)),
    "12 + 34 = 46; 987 * 654 = 645498; 100 / 7 = 14.285714",
]
texts += digits

whitespace = [
    " " * 40,
    "\t" * 12,
    "\n" * 10,
    "\r\n" * 8,
    "a" + " " * 17 + "b",
    "word \n word\n \nword \t\n",
    "trailing newline spaces  \n  \n",
    " \u00a0 \u3000 \u2003 ",
    "\n\n\nStart after newlines",
    "End with spaces and newline   \n",
]
texts += whitespace

specials = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "Text before<|endoftext|>text after",
    "<think>\nLet me think about this.\n</think>\n\nThe answer is 4.",
    "Spaces around special tokens <|im_end|> and <|im_start|> here",
    "Adjacent<|im_start|><|im_end|><|endoftext|>tokens",
    "Partial special tokens: <|im_start and im_end|> and <|endoftext| and <think",
    "Nested-looking <|im_start|<|im_end|>|> and <<think>>",
    "<tool_call>\n{\"name\": \"calc\", \"arguments\": {\"x\": 1}}\n</tool_call>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n    return 1<|fim_middle|>",
    "<|vision_start|><|image_pad|><|vision_end|>Describe the image.",
    "Llama-style <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "GPT-2 style <|endoftext|> separator <|endoftext|>",
    "special\u00a0<|im_end|>\u00a0nbsp and \t<|im_end|>\t tabs and\n<|im_end|>\nnewlines",
    "word<|im_end|>word <|im_end|> word<|im_end|> <|im_end|>word",
]
texts += specials

flags = [
    "a <lstrip> b and a<lstrip>b and   <lstrip>   spaced",
    "x<rstrip>   y and x <rstrip>\n\ny and <rstrip>",
    "word words sword word. (word) word_x xword word",
    "\u00a0<both>\u00a0 and\t<both>\tand<both>",
    "fine \ufb01ne FINE defined fine-tuning",
    "<s> and </s> written in text, <mask> too",
]
texts += flags

# Generated lines: random mixtures of the fragments above, so pieces meet at every kind
# of boundary.
fragments = []
for t in english + chinese + japanese + other_scripts + combining + emoji + latex + digits + specials:
    words = t.split(" ")
    for i in range(0, len(words), 3):
        fragments.append(" ".join(words[i:i + 3]))
fragments = [f for f in fragments if f]
seps = [" ", "", "\n", "  ", "\t", "\r\n", " \n ", "<|im_end|>", "<think>", "   "]
while len(texts) < 420:
    n = random.randint(2, 8)
    parts = [random.choice(fragments) for _ in range(n)]
    line = ""
    for p in parts:
        line += p + random.choice(seps)
    texts.append(line)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")
with open(out, "w", encoding="utf-8") as f:
    for t in texts:
        f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
print(f"wrote {len(texts)} lines to {out}")
