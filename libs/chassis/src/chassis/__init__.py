"""The service chassis: what every service of the suite needs once."""
