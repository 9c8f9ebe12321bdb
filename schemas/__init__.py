"""Wire models for every topic payload and IO API body; generated JSON Schema and AsyncAPI."""
