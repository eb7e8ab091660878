"""Test oracle: renders conversations with transformers' apply_chat_template.

usage: render_chat_template.py TOKENIZER_DIR CASES.json OUT.json [TOKENIZER_DIR CASES OUT ...]
CASES.json: [{"messages": [{"role", "content"}...], "kwargs": {...}}, ...]
OUT.json:   ["rendered text", ...]
TOKENIZER_DIR holds tokenizer_config.json (with the chat template) and, if present,
tokenizer.json; without one, a minimal tokenizer carries the config's special tokens
(the template only needs them as text).
"""
import json
import os
import sys

from transformers import AutoTokenizer, PreTrainedTokenizerFast


def load(tokenizer_dir):
    if os.path.exists(os.path.join(tokenizer_dir, "tokenizer.json")):
        return AutoTokenizer.from_pretrained(tokenizer_dir)
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    with open(os.path.join(tokenizer_dir, "tokenizer_config.json")) as f:
        config = json.load(f)
    words = {"<unk>": 0}
    for key in ("bos_token", "eos_token"):
        if config.get(key):
            words.setdefault(config[key], len(words))
    backend = Tokenizer(WordLevel(words, unk_token="<unk>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=config.get("bos_token"),
        eos_token=config.get("eos_token"),
        chat_template=config["chat_template"],
    )


def main():
    args = sys.argv[1:]
    for i in range(0, len(args), 3):  # one python start-up for every job
        tokenizer = load(args[i])
        with open(args[i + 1]) as f:
            cases = json.load(f)
        out = [
            tokenizer.apply_chat_template(c["messages"], tokenize=False, **c.get("kwargs", {}))
            for c in cases
        ]
        with open(args[i + 2], "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
