"""The API's routes, one Powertools ``Router`` per resource (included by ``filescan_shared.api.routes``)."""
