"""io-bridge: ERP sales events on Kafka in, IO API jobs, prediction and classification out."""
