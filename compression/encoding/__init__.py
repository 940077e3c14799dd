"""The encoding family (Deep Compression's last stages): `huffman` (canonical Huffman codec, used by
compression.artifact) and `sharing` (the `sparse-sharing` and `huffman` techniques; importing it
registers them). Kept import-free here: the artifact imports the codec without the techniques."""
