"""The whole filescan pipeline on one machine: moto server, a local Batch service, a dispatcher, the API."""
