"""Other theories: classical speculative sampling, the Markov-chain view, Scylla's laws, HiSpec's hierarchy."""
