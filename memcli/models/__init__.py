"""Model runtimes behind small interfaces; llama.cpp is imported only when a model is actually used."""
