"""Words the reports show people: the six emulation contents, unit types and awards,
in Vietnamese (the reports go to the ministries) with the English beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from services.common.individuals import GROUP_NAMES
from services.common.movements import DEFAULT as DEFAULT_MOVEMENT
from services.common.movements import MOVEMENTS

if TYPE_CHECKING:
    from services.reporting.models import NationalReport

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# The six contents of the plan, in the plan's order (keys as in the submission schema),
# in the plan's full wording (seed 000, "Sáu nội dung thi đua"; the seed is a Hindi
# translation, this is the platform's Vietnamese rendering of it), with a short title for
# tables and the English beside them.
CONTENTS: dict[str, tuple[str, str]] = {
    "implement_directives": (
        "Thi đua thực hiện và tổ chức thực hiện có hiệu quả các nghị quyết, chỉ thị, kết "
        "luận, quy định của Đảng, Nhà nước, Bộ Công an và cấp ủy, chính quyền địa phương "
        "về bảo đảm an ninh, trật tự và xây dựng phong trào toàn dân bảo vệ an ninh Tổ quốc",
        "Implementing the resolutions, directives, conclusions and regulations of the "
        "Party, the State, the MPS and local authorities on security and order"),
    "local_government": (
        "Thi đua xây dựng chính quyền các cấp lãnh đạo, chỉ đạo, tổ chức, thực hiện đồng "
        "bộ, quyết liệt, hiệu quả nhiệm vụ xây dựng phong trào toàn dân bảo vệ an ninh Tổ "
        "quốc, bảo đảm an ninh, trật tự tại địa phương, cơ quan, đơn vị",
        "Local governments leading and carrying out the movement"),
    "movement_quality": (
        "Thi đua nâng cao chất lượng, hiệu quả phong trào toàn dân bảo vệ an ninh Tổ quốc; "
        "chú trọng phát huy hiệu quả, nhân rộng các mô hình điển hình tiên tiến trong phong "
        "trào thi đua gắn với phát triển kinh tế - xã hội, bảo đảm an sinh xã hội với "
        "phương châm “tự quản, tự phòng, tự bảo vệ, tự hòa giải” từ gia đình đến cộng đồng "
        "dân cư, cơ quan, đơn vị, doanh nghiệp, cơ sở giáo dục, nhất là ở các địa bàn trọng "
        "điểm, chiến lược, phức tạp về an ninh, trật tự, biên giới, biển đảo và trên không "
        "gian mạng",
        "Raising the movement's quality; replicating advanced models under the motto "
        "self-management, self-prevention, self-protection, self-reconciliation"),
    "science_technology": (
        "Chú trọng nghiên cứu, ứng dụng khoa học, công nghệ, đổi mới sáng tạo, chuyển đổi "
        "số trong xây dựng phong trào thi đua, bảo đảm an ninh, an toàn mạng, xây dựng thế "
        "trận an ninh nhân dân trên không gian mạng",
        "Science, technology, innovation and digital transformation; network security; "
        "the people's security posture in cyberspace"),
    "security_forces": (
        "Thi đua xây dựng lực lượng Công an nhân dân và lực lượng nòng cốt tham gia bảo vệ "
        "an ninh, trật tự ở cơ sở vững mạnh, đủ về số lượng, vững về chuyên môn, sẵn sàng "
        "hoàn thành xuất sắc nhiệm vụ bảo đảm an ninh, trật tự trong tình hình mới",
        "A strong People's Public Security and grassroots core forces"),
    "propaganda": (
        "Thi đua làm tốt công tác tuyên truyền, vận động nhân dân tích cực tham gia phong "
        "trào thi đua, tạo chuyển biến trong nhận thức của toàn xã hội rằng nhiệm vụ bảo "
        "đảm an ninh quốc gia là quyền lợi và trách nhiệm của toàn dân",
        "Propaganda: protecting national security is everyone's right and responsibility"),
}

# Short titles, where a table has no room for the plan's wording.
CONTENT_SHORT: dict[str, str] = {
    "implement_directives": "Nội dung 1 (thực hiện nghị quyết, chỉ thị)",
    "local_government": "Nội dung 2 (chính quyền các cấp)",
    "movement_quality": "Nội dung 3 (chất lượng phong trào)",
    "science_technology": "Nội dung 4 (khoa học, công nghệ, không gian mạng)",
    "security_forces": "Nội dung 5 (lực lượng Công an nhân dân, lực lượng nòng cốt)",
    "propaganda": "Nội dung 6 (tuyên truyền)",
}

# The indicators the rubrics name (submission `contents.<key>.indicators`).
INDICATORS: dict[str, str] = {
    "plans_issued": "số chương trình, kế hoạch đã ban hành",
    "directives_implemented": "số văn bản chỉ đạo đã triển khai",
    "steering_committees": "số Ban Chỉ đạo đã kiện toàn",
    "grassroots_force_members": "số thành viên lực lượng nòng cốt ở cơ sở",
    "models_replicated": "số mô hình được nhân rộng",
    "safe_units_certified": "số đơn vị đạt tiêu chuẩn “An toàn về an ninh, trật tự”",
    "digital_initiatives": "số sáng kiến ứng dụng công nghệ, chuyển đổi số",
    "propaganda_sessions": "số buổi tuyên truyền",
    "people_reached": "số lượt người được tuyên truyền",
    "policies_commented": "số văn bản pháp luật, chính sách được góp ý, phản biện",
    "initiatives": "số sáng kiến, giải pháp",
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
    # The seeds name no issuer for a certificate; seed 004's proposals go "to the
    # Government and the MPS", and the MPS flag sits beside it: the platform's reading,
    # configurable here (docs/sources.md).
    "certificate_of_merit": "Bằng khen của Bộ trưởng Bộ Công an",
    "other": "Hình thức khác (nêu trong lý do)",
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


# Said wherever a report shows a score: the plan gives no scale (docs/sources.md).
DEFAULT_SCALE_NOTE = ("Điểm tính theo thang điểm mặc định của hệ thống (không do kế hoạch "
                      "quy định; có thể cấu hình theo từng phiên bản bộ tiêu chí)")
# The one reading of the plan's "trước ngày 30/11" the platform applies.
DEADLINE_READING = ("cách hiểu của hệ thống về mốc “trước ngày 30/11” của kế hoạch, có thể "
                    "cấu hình theo từng năm")


# Criterion group 5 of the plan: the people's records the units report (toan-dan only).
INDIVIDUALS_HEADING = "Cá nhân (nhóm tiêu chí 5)"
INDIVIDUALS_NOTE = ("Hồ sơ cá nhân do đơn vị báo cáo dưới mã định danh không nêu tên người; "
                    "không tính vào số đơn vị dự kiến và các tỷ lệ")
NO_INDIVIDUALS = "Chưa có đơn vị nào báo cáo hồ sơ cá nhân trong năm này."
INDIVIDUAL_COUNTS: dict[str, str] = {
    "submitted": "Số hồ sơ đã báo cáo",
    "on_time": "Đúng hạn",
    "scored": "Đã chấm điểm",
}


def person_group_label(group: str) -> str:
    """'5a. Cán bộ, chiến sĩ, …': the plan's person group (services.common.individuals)."""
    return f"{group}. {GROUP_NAMES[group]}" if group in GROUP_NAMES else group


def content_title(key: str) -> str:
    return CONTENTS.get(key, (key, key))[0]


def content_short(key: str) -> str:
    return CONTENT_SHORT.get(key, key)


def indicator_label(name: str) -> str:
    """An indicator's Vietnamese name; one no rubric names keeps its key as sent."""
    return INDICATORS.get(name, f"chỉ tiêu {name}")


def unit_type_label(unit_type: str) -> str:
    return UNIT_TYPES.get(unit_type, unit_type)


def award_label(award: str) -> str:
    return AWARDS.get(award, award)


def movement_title(report: NationalReport) -> str:
    """The movement a synthesis is of, as the plan or seed 004 names it."""
    return str(report.get("movement_name") or MOVEMENTS[DEFAULT_MOVEMENT].name)


def addressee(report: NationalReport) -> str:
    """Who the synthesis is for: the movement's organiser."""
    return str(report.get("organiser") or MOVEMENTS[DEFAULT_MOVEMENT].organiser)
