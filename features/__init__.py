"""Features: encoders and feature engineering shared by training and serving."""
