from django.urls import path

from payables import views

app_name = "payables"

urlpatterns = [
    path("bills/", views.bill_list, name="bill-list"),
    path("bills/<uuid:bill_id>/", views.bill_detail, name="bill-detail"),
]
