// MMBench submission table: pandas-compatible TSV reading and the column edits of
// convert_mmbench_for_submission.py; see score_convert.h.
#include <algorithm>
#include <cstdlib>

#include "imp/core/fs.h"
#include "imp/eval/score_convert.h"
#include "imp/eval/score_io.h"

namespace imp::eval {
namespace {

// pandas' default na_values: these cells become NaN.
bool is_na(const std::string& s) {
  static const char* const kNa[] = {"",     "#N/A", "#N/A N/A", "#NA",     "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                                    "1.#IND", "1.#QNAN", "<NA>", "N/A",  "NA",      "NULL",    "NaN",      "None",
                                    "n/a",  "nan",  "null"};
  return std::any_of(std::begin(kNa), std::end(kNa), [&](const char* n) { return s == n; });
}

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && s.find_first_of("xXpP") == std::string::npos &&
         s.find_first_not_of("0123456789+-.eE") == std::string::npos;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;  // not allowed in XML 1.0
    else out += ch;
  }
  return out;
}

std::string column_letters(size_t col) {
  std::string s;
  for (size_t n = col + 1; n > 0; n = (n - 1) / 26) s.insert(s.begin(), static_cast<char>('A' + (n - 1) % 26));
  return s;
}

uint32_t crc32(const std::string& data) {
  static uint32_t table[256];
  static bool init = false;
  if (!init) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    init = true;
  }
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}

// A zip archive with stored (uncompressed) entries, which every xlsx reader accepts.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out, central;
  for (const auto& [name, data] : files) {
    IMP_CHECK(data.size() < 0xFFFFFFFFu, "xlsx: entry ", name, " is too large for a zip32 archive");
    const uint32_t crc = crc32(data), offset = static_cast<uint32_t>(out.size());
    const auto size = static_cast<uint32_t>(data.size());
    put32(out, 0x04034b50);
    put16(out, 20), put16(out, 0), put16(out, 0), put16(out, 0), put16(out, 0x21);  // version, flags, stored, 1980-01-01
    put32(out, crc), put32(out, size), put32(out, size);
    put16(out, static_cast<uint32_t>(name.size())), put16(out, 0);
    out += name;
    out += data;
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0x21);
    put32(central, crc), put32(central, size), put32(central, size);
    put16(central, static_cast<uint32_t>(name.size())), put16(central, 0), put16(central, 0), put16(central, 0),
        put16(central, 0);
    put32(central, 0), put32(central, offset);
    central += name;
  }
  const auto cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0), put16(out, 0), put16(out, static_cast<uint32_t>(files.size())), put16(out, static_cast<uint32_t>(files.size()));
  put32(out, static_cast<uint32_t>(central.size())), put32(out, cd_offset), put16(out, 0);
  return out;
}

}  // namespace

Table read_tsv_like_pandas(const std::string& path) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": file not found (see playground/README.md for MMBench)");
  auto records = parse_tsv(read_text_file(path), path);
  IMP_CHECK(!records.empty(), path, ": empty TSV");
  Table t;
  t.columns = records[0];
  for (size_t r = 1; r < records.size(); ++r) {
    auto& rec = records[r];
    IMP_CHECK(rec.size() <= t.columns.size(), path, ": row ", r + 1, " has ", rec.size(), " fields, header has ",
              t.columns.size());
    rec.resize(t.columns.size());
    std::vector<bool> na;
    for (const auto& cell : rec) na.push_back(is_na(cell));
    t.rows.push_back(rec);
    t.missing.push_back(na);
  }
  return t;
}

Table mmbench_submission_table(const std::string& tsv_path, const std::string& answers_path) {
  Table in = read_tsv_like_pandas(tsv_path);
  auto index_col = std::find(in.columns.begin(), in.columns.end(), "index");
  IMP_CHECK(index_col != in.columns.end(), tsv_path, ": no 'index' column");
  const size_t index_pos = static_cast<size_t>(index_col - in.columns.begin());
  static const std::vector<std::string> kDrop = {"hint", "category", "source", "image", "comment", "l2-category"};
  std::vector<size_t> keep;
  for (size_t c = 0; c < in.columns.size(); ++c)
    if (std::find(kDrop.begin(), kDrop.end(), in.columns[c]) == kDrop.end()) keep.push_back(c);
  IMP_CHECK(keep.size() >= 6, tsv_path, ": fewer than 6 columns left after dropping ", "hint/category/source/image/"
            "comment/l2-category; the prediction column goes at position 6");
  Table out;
  for (size_t c : keep) out.columns.push_back(in.columns[c]);
  out.columns.insert(out.columns.begin() + 6, "prediction");
  for (size_t r = 0; r < in.rows.size(); ++r) {
    std::vector<std::string> row;
    std::vector<bool> na;
    for (size_t c : keep) {
      row.push_back(in.rows[r][c]);
      na.push_back(in.missing[r][c]);
    }
    row.insert(row.begin() + 6, "");
    na.insert(na.begin() + 6, true);  // None until an answer sets it
    out.rows.push_back(row);
    out.missing.push_back(na);
  }
  // cur_df.loc[df['index'] == pred['question_id'], 'prediction'] = pred['text'], in answer order.
  const auto answers = read_jsonl(answers_path);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = answers_path + ":" + std::to_string(i + 1);
    const Json& qid = question_id(answers[i], origin);
    const std::string key = qid.is_string() ? qid.get<std::string>() : qid.dump();
    const std::string text = string_field(answers[i], "text", origin);
    for (size_t r = 0; r < in.rows.size(); ++r) {
      if (in.rows[r][index_pos] != key) continue;
      out.rows[r][6] = text;
      out.missing[r][6] = false;
    }
  }
  return out;
}

std::string table_to_tsv(const Table& t) {
  auto cell = [](const std::string& s) {
    if (s.find_first_of("\t\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  for (size_t c = 0; c < t.columns.size(); ++c) out += (c ? "\t" : "") + cell(t.columns[c]);
  out += "\n";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    for (size_t c = 0; c < t.columns.size(); ++c) out += (c ? "\t" : "") + (t.missing[r][c] ? "" : cell(t.rows[r][c]));
    out += "\n";
  }
  return out;
}

std::string table_to_xlsx(const Table& t) {
  // A column is numeric when all its non-missing cells are numbers (pandas' dtype inference).
  std::vector<bool> numeric(t.columns.size(), true);
  for (size_t c = 0; c < t.columns.size(); ++c)
    for (size_t r = 0; r < t.rows.size() && numeric[c]; ++r)
      if (!t.missing[r][c] && !is_number(t.rows[r][c])) numeric[c] = false;
  std::string sheet =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
  auto text_cell = [](const std::string& ref, const std::string& v) {
    return "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t xml:space=\"preserve\">" + xml_escape(v) + "</t></is></c>";
  };
  sheet += "<row r=\"1\">";
  for (size_t c = 0; c < t.columns.size(); ++c) sheet += text_cell(column_letters(c) + "1", t.columns[c]);
  sheet += "</row>";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string rn = std::to_string(r + 2);
    sheet += "<row r=\"" + rn + "\">";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      if (t.missing[r][c]) continue;
      const std::string ref = column_letters(c) + rn;
      sheet += numeric[c] ? "<c r=\"" + ref + "\"><v>" + t.rows[r][c] + "</v></c>" : text_cell(ref, t.rows[r][c]);
    }
    sheet += "</row>";
  }
  sheet += "</sheetData></worksheet>";
  const std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
  return zip_stored({
      {"[Content_Types].xml",
       x + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
           "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
           "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
           "<Override PartName=\"/xl/workbook.xml\" "
           "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
           "<Override PartName=\"/xl/worksheets/sheet1.xml\" "
           "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>"},
      {"_rels/.rels",
       x + "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
           "<Relationship Id=\"rId1\" "
           "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
           "Target=\"xl/workbook.xml\"/></Relationships>"},
      {"xl/workbook.xml",
       x + "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
           "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
           "<sheets><sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"},
      {"xl/_rels/workbook.xml.rels",
       x + "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
           "<Relationship Id=\"rId1\" "
           "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
           "Target=\"worksheets/sheet1.xml\"/></Relationships>"},
      {"xl/worksheets/sheet1.xml", sheet},
  });
}

}  // namespace imp::eval
