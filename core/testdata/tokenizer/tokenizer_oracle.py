#!/usr/bin/env python3
"""HF `tokenizers` as the oracle (and benchmark peer) for core/tokenizer.

  encode TOKENIZER IN.jsonl OUT.jsonl
      TOKENIZER is a tokenizer.json or a directory holding one. For each {"text": t}
      line writes {"ids", "ids_special", "decoded", "decoded_skip", "decoded_half", "nfc"}.
  train STYLE CORPUS.jsonl OUT_DIR
      Trains a tiny byte-level BPE on the corpus and saves OUT_DIR/tokenizer.json.
      STYLE: gpt2 (ByteLevel regex pre-tokenizer), llama3 (Split with the Llama 3 regex,
      ignore_merges, BOS template), custom (NFKC + Replace, Split MergedWithPrevious,
      Digits, ByteLevel with add_prefix_space, normalized added tokens, <s> $A </s>),
      custom2 (NFD, String Split Contiguous inverted, MergedWithNext, Roberta).
  bench TOKENIZER TEXT_FILE
      Encodes the lines of TEXT_FILE with encode_batch (run it with RAYON_NUM_THREADS=1
      for one thread) and prints {"seconds", "bytes", "tokens"}; only encoding is timed.
"""
import json
import os
import sys
import time
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return Tokenizer.from_file(path)


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def encode(tok_path, in_path, out_path):
    tok = load(tok_path)
    with open(out_path, "w", encoding="utf-8") as out:
        for text in read_texts(in_path):
            ids = tok.encode(text, add_special_tokens=False).ids
            rec = {
                "ids": ids,
                "ids_special": tok.encode(text, add_special_tokens=True).ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids, skip_special_tokens=True),
                "decoded_half": tok.decode(ids[: len(ids) // 2], skip_special_tokens=False),
                "nfc": unicodedata.normalize("NFC", text),
            }
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def train(style, corpus_path, out_dir):
    texts = read_texts(corpus_path)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    specials = ["<|endoftext|>"]
    tok = Tokenizer(models.BPE())
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    elif style == "llama3":
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
                    "<|start_header_id|>", "<|end_header_id|>"]
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), byte_level])
    elif style == "custom":
        specials = ["<s>", "</s>"]
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFKC(), normalizers.Replace(Regex(" {3,}"), "  ")])
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_previous"),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
        ])
    elif style == "custom2":
        specials = ["<s>", "</s>", "<mask>"]
        tok.normalizer = normalizers.NFD()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split("-", behavior="contiguous", invert=True),
            pre_tokenizers.Split(Regex(r"\p{P}"), behavior="merged_with_next"),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        raise SystemExit(f"unknown style {style}")
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    if style == "gpt2":
        tok.add_tokens([AddedToken("<lstrip>", lstrip=True, normalized=False, special=True),
                        AddedToken("<rstrip>", rstrip=True, normalized=False),
                        AddedToken("word", single_word=True, normalized=False),
                        AddedToken("<both>", lstrip=True, rstrip=True, normalized=False,
                                   special=True)])
    elif style == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                          special_tokens=[("<|begin_of_text|>", bos)]),
        ])
    elif style == "custom":
        tok.add_tokens([AddedToken("\ufb01ne", normalized=True),
                        AddedToken("<mask>", normalized=True, lstrip=True, special=True)])
        s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", s), ("</s>", e)])
    elif style == "custom2":
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    os.makedirs(out_dir, exist_ok=True)
    doc = json.loads(tok.to_str())
    if style == "llama3":
        doc["model"]["ignore_merges"] = True
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)


def bench(tok_path, text_path):
    tok = load(tok_path)
    with open(text_path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    tok.encode_batch(lines[:100])  # warm-up
    start = time.perf_counter()
    encodings = tok.encode_batch(lines, add_special_tokens=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(e.ids) for e in encodings)
    print(json.dumps({"seconds": seconds, "bytes": sum(len(l.encode()) for l in lines),
                      "tokens": tokens}))


def main(argv):
    if len(argv) == 5 and argv[1] == "encode":
        encode(argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[1] == "train":
        train(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "bench":
        bench(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
