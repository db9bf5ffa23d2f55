# vocab.txt with more tokens than the word-embedding table (today: 'index out of range in self', exit 1)
# -> exit 2 naming vocab.txt and both sizes, before any work.
py '
words = [l.rstrip("\n") for l in open("lxmert/vocab.txt")]
extra = ["[unused%d]" % i for i in range(10)] + ["what", "color", "dog", "people", "is", "the"]
open("lxmert/vocab.txt", "w").write("\n".join(words + extra) + "\n")'
expect_fail 2 'lxmert/vocab\.txt: .*136.*120' -- "$BIN" run run.yaml
