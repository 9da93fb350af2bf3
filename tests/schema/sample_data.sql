-- Sample data for the reference schema: a Dinas with two units, an operator,
-- a lead and a kadis, and two cases. Fixed ids so tests can name them.
INSERT INTO org_units (id, code, name, parent_id) VALUES
	('00000000-0000-0000-0000-000000000001', 'DISKOMINFO', 'Dinas Komunikasi dan Informatika', NULL),
	('00000000-0000-0000-0000-000000000002', 'BID-TIK', 'Bidang Teknologi Informasi', '00000000-0000-0000-0000-000000000001'),
	('00000000-0000-0000-0000-000000000003', 'UPT-WARROOM', 'UPT Warroom', '00000000-0000-0000-0000-000000000002');

INSERT INTO users (id, full_name, role, org_unit_id, whatsapp_number) VALUES
	('00000000-0000-0000-0000-0000000000a1', 'Rina Resepsionis', 'resepsionis', '00000000-0000-0000-0000-000000000001', '0811-1111-1111'),
	('00000000-0000-0000-0000-0000000000a2', 'Budi Operator', 'operator', '00000000-0000-0000-0000-000000000003', '0812-3456-7890'),
	('00000000-0000-0000-0000-0000000000a3', 'Sari Operator', 'operator', '00000000-0000-0000-0000-000000000003', '+62 813 2222 3333');

INSERT INTO org_unit_contacts (org_unit_id, contact_type, name, whatsapp_number) VALUES
	('00000000-0000-0000-0000-000000000002', 'lead', 'Kabid TIK', '6281377778888'),
	('00000000-0000-0000-0000-000000000001', 'kadis', 'Kepala Dinas', '081299990000');

INSERT INTO cases (id, code, case_type, status, org_unit_id, unit_tujuan,
				   visitor_name, visitor_id_number, purpose) VALUES
	('00000000-0000-0000-0000-0000000000c1', 'ABC123', 'visitor', 'new',
	 '00000000-0000-0000-0000-000000000003', 'UPT Warroom',
	 'Ahmad Pengunjung', '3201010101010001', 'Konsultasi jaringan internet kantor desa');

INSERT INTO cases (id, code, case_type, status, org_unit_id, unit_tujuan,
				   surat_tracking_no, surat_perihal) VALUES
	('00000000-0000-0000-0000-0000000000c2', 'SRT001', 'surat', 'new',
	 '00000000-0000-0000-0000-000000000002', 'Bidang TIK',
	 '045/UND/2026', 'Undangan rapat koordinasi "SPBE" 2026');
