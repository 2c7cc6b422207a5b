"""The platform at the door: how a request is authenticated, parsed, filtered, described
(OpenAPI) and answered when it fails, the admin's shared bases, and the platform's own
endpoints. The apps' API views and admins build on these."""
