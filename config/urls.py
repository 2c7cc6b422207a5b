from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from platform_integrity.metrics import metrics_view
from platform_integrity.web import api as platform_api
from platform_integrity.web import problems

admin.site.site_header = admin.site.site_title = "Rivane back office"
admin.site.index_title = "Controllers' administration"

v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("audit-events", platform_api.AuditEventListApi.as_view(), name="audit-events"),
    path("events", platform_api.EventFeedApi.as_view(), name="events"),
    path("platform/contention", platform_api.ContentionApi.as_view(), name="contention"),
    path("", include("ledger.api.urls")),
    path("", include("payables.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("ledger.urls")),
    path("", include("payables.urls")),
]


def handler404(request, exception=None):
    if request.path.startswith("/v1/"):
        return problems.api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/v1/"):
        return problems.api_server_error(request)
    from django.views.defaults import server_error

    return server_error(request)
