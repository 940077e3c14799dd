"""The encoding family (Deep Compression's last stages): registered lazily, see huffman / sharing."""
