"""The results API: routes, request/response models, queries, cursors, uploads and rescans."""
