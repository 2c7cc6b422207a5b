from django.urls import path

from payables.api import views
from payables.models import PaymentRun

urlpatterns = [
    path("vendors", views.VendorListCreateApi.as_view()),
    path("vendors/<uuid:vendor_id>", views.VendorDetailApi.as_view()),
    path("bills", views.BillListCreateApi.as_view()),
    path("bills/<uuid:bill_id>", views.BillDetailApi.as_view()),
    path("payments", views.PaymentListCreateApi.as_view()),
    path("payments/<uuid:payment_id>", views.PaymentDetailApi.as_view()),
    path("payments/<uuid:payment_id>/post", views.PaymentPostApi.as_view()),
    path("payments/<uuid:payment_id>/void", views.PaymentVoidApi.as_view()),
    path("payment-sync-runs", views.PaymentSyncRunCreateApi.as_view()),
    path(
        "payment-sync-runs/<uuid:run_id>",
        views.PaymentRunDetailApi.as_view(kind=PaymentRun.Kind.SYNC),
    ),
    path("payment-batch-runs", views.PaymentBatchRunCreateApi.as_view()),
    path(
        "payment-batch-runs/<uuid:run_id>",
        views.PaymentRunDetailApi.as_view(kind=PaymentRun.Kind.BATCH),
    ),
]
