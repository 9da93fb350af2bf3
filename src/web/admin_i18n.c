/*-------------------------------------------------------------------------
 *
 * admin_i18n.c
 *		The page's words: Indonesian (the default) and English.  A key
 *		missing here is shown as the key itself (and is a bug).
 *
 * src/web/admin_i18n.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "admin.h"

typedef struct Word
{
	const char *key;
	const char *id;
	const char *en;
} Word;

static const Word words[] = {
	{"app", "Notifikasi Buku Tamu", "Guestbook notifications"},
	{"skip", "Lewati ke isi", "Skip to content"},
	{"nav", "Navigasi", "Navigation"},
	{"notifications", "Notifikasi", "Notifications"},
	{"optouts", "Daftar menolak", "Opt-out list"},
	{"logged_in_as", "Masuk sebagai", "Logged in as"},
	{"logout", "Keluar", "Log out"},
	{"login", "Masuk", "Log in"},
	{"login_title", "Masuk ke halaman notifikasi", "Log in to the notifications page"},
	{"login_help", "Masuk dengan peran PostgreSQL dan kata sandinya.",
	"Log in with a PostgreSQL role and its password."},
	{"role", "Peran", "Role"},
	{"password", "Kata sandi", "Password"},
	{"login_bad", "Peran atau kata sandi salah.", "Wrong role or password."},
	{"login_throttled", "Terlalu banyak percobaan gagal. Coba lagi nanti.",
	"Too many failed attempts. Try again later."},
	{"login_no_access", "Peran ini tidak punya akses ke halaman notifikasi.",
	"This role has no access to the notifications page."},
	{"login_superuser", "Superuser tidak boleh masuk ke halaman ini; gunakan peran admin.",
	"Superusers may not log in here; use an admin role."},
	{"login_full", "Terlalu banyak sesi terbuka. Coba lagi nanti.",
	"Too many open sessions. Try again later."},
	{"login_unavailable", "Basis data tidak dapat dihubungi.", "The database cannot be reached."},
	{"session_expired", "Sesi berakhir. Silakan masuk lagi.", "The session ended. Please log in again."},
	{"forbidden", "Ditolak", "Forbidden"},
	{"csrf_bad", "Permintaan ditolak: token formulir tidak cocok. Muat ulang halaman.",
	"Request refused: the form token does not match. Reload the page."},
	{"origin_bad", "Permintaan ditolak: asal permintaan tidak dikenal.",
	"Request refused: unknown origin."},
	{"not_found", "Tidak ditemukan", "Not found"},
	{"not_found_text", "Notifikasi ini tidak ada.", "There is no such notification."},
	{"error", "Galat", "Error"},
	{"no_permission", "Peran Anda tidak boleh melakukan ini.", "Your role may not do this."},
	{"bad_request", "Permintaan tidak valid.", "Bad request."},
	/* tabs */
	{"tab_attention", "Perlu tindakan", "Needs attention"},
	{"tab_pending", "Menunggu", "Waiting"},
	{"tab_sending", "Sedang dikirim", "Sending"},
	{"tab_held", "Ditahan", "Held"},
	{"tab_sent", "Terkirim", "Sent"},
	{"tab_delivered", "Diterima", "Delivered"},
	{"tab_read", "Dibaca", "Read"},
	{"tab_failed", "Gagal", "Failed"},
	{"tab_cancelled", "Dibatalkan", "Cancelled"},
	{"tab_all", "Semua", "All"},
	{"tab_overdue", "Terlambat", "Overdue"},
	{"tabs", "Status", "Status"},
	/* list */
	{"filters", "Saring", "Filter"},
	{"f_template", "Pemicu / templat", "Trigger / template"},
	{"f_role", "Peran penerima", "Recipient role"},
	{"f_from", "Dari tanggal", "From date"},
	{"f_to", "Sampai tanggal", "To date"},
	{"f_q", "Cari (kode kasus, akhir nomor, nama penerima)",
	"Search (case code, number ending, recipient name)"},
	{"any", "Semua", "Any"},
	{"apply", "Terapkan", "Apply"},
	{"reset", "Hapus saringan", "Clear filter"},
	{"csv", "Unduh CSV", "Download CSV"},
	{"role_operator", "Operator", "Operator"},
	{"role_lead", "Kabid/Lead", "Lead"},
	{"role_kadis", "Kepala Dinas", "Head of office"},
	{"role_manual", "Manual", "Manual"},
	{"caption", "Notifikasi", "Notifications"},
	{"c_select", "Pilih", "Select"},
	{"c_created", "Dibuat", "Created"},
	{"c_status", "Status", "Status"},
	{"c_case", "Kasus", "Case"},
	{"c_template", "Templat", "Template"},
	{"c_recipient", "Penerima", "Recipient"},
	{"c_number", "Nomor", "Number"},
	{"c_subject", "Pesan", "Message"},
	{"c_attempts", "Percobaan", "Attempts"},
	{"c_error", "Galat terakhir", "Last error"},
	{"c_actions", "Tindakan", "Actions"},
	{"open", "Buka", "Open"},
	{"empty", "Tidak ada notifikasi di sini.", "No notifications here."},
	{"next_page", "Halaman berikutnya", "Next page"},
	{"first_page", "Halaman pertama", "First page"},
	{"select_row", "Pilih notifikasi", "Select notification"},
	{"selected", "Terpilih", "Selected"},
	{"bulk", "Tindakan massal", "Bulk actions"},
	{"bulk_selected", "untuk baris terpilih", "on the selected rows"},
	{"bulk_all", "Terapkan ke semua yang cocok dengan saringan", "Apply to all matching this filter"},
	{"confirm_title", "Konfirmasi", "Confirm"},
	{"confirm_text", "Tindakan ini akan diterapkan ke semua notifikasi yang cocok:",
	"This action will be applied to every matching notification:"},
	{"confirm_yes", "Ya, terapkan", "Yes, apply"},
	{"cancel_back", "Kembali", "Back"},
	{"wa_link", "Chat WhatsApp manual", "Chat on WhatsApp by hand"},
	{"in_flight", "sedang dikirim", "in flight"},
	{"resent_as", "dikirim ulang", "resent"},
	{"opted_out", "Kontak menolak notifikasi", "Contact opted out"},
	{"more", "lebih dari", "more than"},
	{"opted_out_contacts", "kabid/lead atau kepala dinas menolak notifikasi: atur kontak lain",
	"leads or heads of office opted out: arrange another contact"},
	/* actions */
	{"a_resend", "Kirim ulang", "Send again"},
	{"a_requeue", "Antrekan lagi", "Queue again"},
	{"a_cancel", "Batalkan", "Cancel"},
	{"a_done", "Selesai", "Done"},
	{"done_n", "berhasil", "done"},
	{"skipped_n", "dilewati (status tidak sesuai)", "skipped (not in a state for it)"},
	{"errors_n", "galat", "errors"},
	{"no_selection", "Tidak ada baris yang dipilih.", "No rows selected."},
	{"optin", "Izinkan lagi", "Opt in again"},
	{"optin_done", "Nomor boleh dihubungi lagi.", "The number may be messaged again."},
	{"optin_none", "Nomor ini tidak ada di daftar menolak.", "This number was not opted out."},
	/* banner and figures */
	{"queue_length", "Antrean", "Queue"},
	{"oldest_pending", "Menunggu paling lama", "Oldest waiting"},
	{"worker_paused", "Pengiriman dijeda", "Sending is paused"},
	{"worker_invalid", "Pengaturan tidak valid: tidak ada yang dikirim",
	"Invalid settings: nothing is sent"},
	{"worker_standby", "Server ini standby: tidak ada yang dikirim dari sini",
	"This server is a standby: nothing is sent from here"},
	{"worker_none", "Worker tidak berjalan untuk basis data ini",
	"No worker runs for this database"},
	{"worker_ok", "Worker berjalan", "The worker runs"},
	{"auto_refresh", "Muat ulang otomatis tiap 30 detik", "Auto-refresh every 30 s"},
	{"pause_refresh", "Jeda muat ulang", "Pause refresh"},
	{"resume_refresh", "Lanjutkan muat ulang", "Resume refresh"},
	/* detail */
	{"detail", "Rincian notifikasi", "Notification detail"},
	{"message", "Pesan yang dikirim", "The message as sent"},
	{"masked_note", "Data pribadi disamarkan.", "Personal data is masked."},
	{"unmasked_note", "Data pribadi ditampilkan lengkap; tampilan ini dicatat.",
	"Personal data shown in full; this view is logged."},
	{"attempts", "Percobaan pengiriman", "Send attempts"},
	{"c_time", "Waktu", "Time"},
	{"c_duration", "Durasi (ms)", "Duration (ms)"},
	{"c_http", "Status HTTP", "HTTP status"},
	{"c_code", "Kode penyedia", "Provider code"},
	{"c_outcome", "Hasil", "Outcome"},
	{"no_attempts", "Belum ada percobaan.", "No attempts yet."},
	{"statuses", "Status pengiriman", "Delivery statuses"},
	{"st_created", "Dibuat", "Created"},
	{"st_sent", "Diterima penyedia", "Accepted by the provider"},
	{"st_delivered", "Diterima di ponsel", "Delivered"},
	{"st_read", "Dibaca", "Read"},
	{"st_failed", "Gagal dikirim (laporan penyedia)", "Failed (provider report)"},
	{"case_events", "Peristiwa kasus", "Case events"},
	{"no_events", "Tidak ada peristiwa kasus.", "No case events."},
	{"open_case", "Buka kasus di aplikasi", "Open the case in the app"},
	{"actions_log", "Riwayat tindakan", "Action log"},
	{"no_actions", "Belum ada tindakan.", "No actions yet."},
	{"c_who", "Oleh", "By"},
	{"c_action", "Tindakan", "Action"},
	{"resent_from", "Kiriman ulang dari", "A resend of"},
	{"resends", "Dikirim ulang sebagai", "Sent again as"},
	{"archived", "Diarsipkan", "Archived"},
	{"fields", "Data", "Fields"},
	{"back_list", "Kembali ke daftar", "Back to the list"},
	{"view_view_unmasked", "melihat data lengkap", "viewed in full"},
	{"view_requeue", "antrekan lagi", "queue again"},
	{"view_cancel", "batalkan", "cancel"},
	{"view_resend", "kirim ulang", "send again"},
	{"view_opt_in", "izinkan lagi", "opt in"},
	/* overdue */
	{"overdue_caption", "Kasus melewati batas waktu layanan", "Cases past their service time"},
	{"c_stage", "Tahap", "Stage"},
	{"c_waiting_since", "Menunggu sejak", "Waiting since"},
	{"c_overdue_since", "Terlambat sejak", "Overdue since"},
	{"c_reminders", "Pengingat", "Reminders"},
	{"no_overdue", "Tidak ada kasus terlambat.", "No overdue cases."},
	/* opt-outs */
	{"optouts_caption", "Nomor yang menolak notifikasi", "Numbers that opted out"},
	{"c_reason", "Alasan", "Reason"},
	{"c_since", "Sejak", "Since"},
	{"no_optouts", "Tidak ada nomor yang menolak.", "No number opted out."},
};

const char *
T(Lang lang, const char *key)
{
	size_t		i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i].key, key) == 0)
			return lang == LANG_EN ? words[i].en : words[i].id;
	return key;
}
