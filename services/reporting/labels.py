"""Words the reports show people: the six emulation contents, unit types and awards,
in Vietnamese (the reports go to the ministries) with the English beside them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# The six contents of the plan, in the plan's order (keys as in the submission schema).
CONTENTS: dict[str, tuple[str, str]] = {
    "implement_directives": (
        "Thực hiện nghị quyết, chỉ thị, kết luận, quy định của Đảng, Nhà nước, "
        "Bộ Công an và cấp ủy, chính quyền địa phương về an ninh, trật tự",
        "Implementing the resolutions, directives and regulations on security and order"),
    "local_government": (
        "Xây dựng chính quyền các cấp lãnh đạo, chỉ đạo, tổ chức thực hiện phong trào",
        "Local governments leading and carrying out the movement"),
    "movement_quality": (
        "Nâng cao chất lượng phong trào, nhân rộng mô hình điển hình tiên tiến",
        "Raising the movement's quality; replicating advanced models"),
    "science_technology": (
        "Ứng dụng khoa học, công nghệ, chuyển đổi số; bảo đảm an ninh mạng",
        "Science, technology and digital transformation; network security"),
    "security_forces": (
        "Xây dựng lực lượng Công an nhân dân và lực lượng nòng cốt ở cơ sở vững mạnh",
        "A strong People's Public Security and grassroots core forces"),
    "propaganda": (
        "Làm tốt công tác tuyên truyền",
        "Propaganda: protecting national security is everyone's responsibility"),
}

UNIT_TYPES: dict[str, str] = {
    "ministry": "Bộ, ngành Trung ương",
    "province": "Tỉnh, thành phố trực thuộc Trung ương",
    "police": "Công an tỉnh, thành phố",
    "front": "Mặt trận Tổ quốc và các tổ chức chính trị - xã hội",
    "organization": "Cơ quan, tổ chức, doanh nghiệp",
    "individual": "Cá nhân",
}

AWARDS: dict[str, str] = {
    "government_emulation_flag": "Cờ thi đua của Chính phủ",
    "mps_emulation_flag": "Cờ thi đua của Bộ Công an",
    "certificate_of_merit": "Bằng khen",
}

LEADERSHIP_STATUS: dict[str, str] = {
    "suggested": "đề xuất",
    "confirmed": "đã xác nhận",
    "overridden": "đã điều chỉnh",
}

REMINDER_STATUS: dict[str, str] = {
    "sent": "đã gửi",
    "delivered": "đã nhận",
    "failed": "gửi lỗi",
    "deferred": "hoãn gửi",
    "cancelled": "đã hủy",
}


def content_title(key: str) -> str:
    return CONTENTS.get(key, (key, key))[0]


def unit_type_label(unit_type: str) -> str:
    return UNIT_TYPES.get(unit_type, unit_type)


def award_label(award: str) -> str:
    return AWARDS.get(award, award)
