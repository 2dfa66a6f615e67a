// EvalAI answer normalisation and VQA accuracy; see score_vqa.h.
#include <algorithm>
#include <array>
#include <unordered_map>

#include "imp/core/error.h"
#include "imp/eval/score_text.h"
#include "imp/eval/score_vqa.h"

namespace imp::eval {
namespace {

// Keys are compared after lower-casing, so "Im", "Ive" and "Id've" never match (as in Python).
const std::unordered_map<std::string, std::string>& contractions() {
  static const std::unordered_map<std::string, std::string> table = {
      {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
      {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
      {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
      {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"}, {"havent", "haven't"},
      {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"}, {"howd", "how'd"},
      {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
      {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
      {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
      {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
      {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
      {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
      {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
      {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
      {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
      {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
      {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
      {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
      {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
      {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
      {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
      {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
      {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"}, {"theyve", "they've"},
      {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
      {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
      {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"},
      {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"},
      {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
      {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
      {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
      {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
      {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
      {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
      {"youre", "you're"}, {"youve", "you've"},
  };
  return table;
}

const std::unordered_map<std::string, std::string>& number_words() {
  static const std::unordered_map<std::string, std::string> table = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"},   {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"},
  };
  return table;
}

// The order matters: each punctuation mark is replaced in turn.
constexpr std::array<std::string_view, 21> kPunctuation = {";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+",
                                                           "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"};
constexpr int kMaxPeriods = 32;  // re.sub(..., re.UNICODE) passes re.UNICODE (32) as `count`

// COMMA_STRIP = (?<=\d)(\,)+(?=\d): a run of commas between two decimal digits.
bool has_comma_between_digits(std::string_view s) {
  bool last_digit = false, in_commas = false;  // in_commas: inside a comma run that follows a digit
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const uint32_t cp = py::decode(s, i, &n);
    if (cp == ',') {
      in_commas = in_commas || last_digit;
      last_digit = false;
    } else {
      last_digit = py::is_decimal(cp);
      if (in_commas && last_digit) return true;
      in_commas = false;
    }
    i += n;
  }
  return false;
}

// PERIOD_STRIP = (?!<=\d)(\.)(?!\d): the malformed look-behind is a look-ahead for "<=" + digit that
// can never match at a '.', so every '.' not followed by a decimal digit goes, up to `count` times.
std::string strip_periods(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  int removed = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.' && removed < kMaxPeriods) {
      bool digit_next = false;
      if (i + 1 < s.size()) {
        size_t n = 1;
        digit_next = py::is_decimal(py::decode(s, i + 1, &n));
      }
      if (!digit_next) {
        ++removed;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::string evalai_word_tokenize(std::string_view s) {
  std::string w = py::lower(s);
  w = py::replace(w, ",", "");
  w = py::replace(w, "?", "");
  w = py::replace(w, "'s", " 's");
  return py::strip(w);
}

std::string evalai_process_punctuation(std::string_view in) {
  std::string out(in);
  const bool comma_digits = has_comma_between_digits(in);
  for (std::string_view p : kPunctuation) {
    const bool spaced = py::contains(in, std::string(p) + " ") || py::contains(in, " " + std::string(p));
    out = py::replace(out, p, spaced || comma_digits ? "" : " ");
  }
  return strip_periods(out);
}

std::string evalai_process_digit_article(std::string_view in) {
  std::vector<std::string> words;
  for (std::string& word : py::split(py::lower(in))) {
    auto num = number_words().find(word);
    if (num != number_words().end()) word = num->second;
    if (word == "a" || word == "an" || word == "the") continue;
    words.push_back(std::move(word));
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    auto c = contractions().find(words[i]);
    if (i) out += ' ';
    out += c == contractions().end() ? words[i] : c->second;
  }
  return out;
}

std::string evalai_process(std::string_view s) {
  std::string item = evalai_word_tokenize(s);
  item = py::strip(py::replace(py::replace(item, "\n", " "), "\t", " "));
  item = evalai_process_punctuation(item);
  return evalai_process_digit_article(item);
}

std::vector<std::pair<std::string, double>> vqa_answer_scores(const std::vector<std::string>& raw_answers,
                                                              const std::string& what) {
  IMP_CHECK(raw_answers.size() == 10, what, ": VQA accuracy needs exactly 10 human answers, got ",
            raw_answers.size(), " (the official evaluator asserts this)");
  std::vector<std::string> answers;
  for (const auto& a : raw_answers) answers.push_back(evalai_process(a));
  std::vector<std::pair<std::string, double>> scores;
  for (const auto& unique : answers) {
    if (std::any_of(scores.begin(), scores.end(), [&](const auto& s) { return s.first == unique; })) continue;
    double sum = 0.0;
    for (size_t i = 0; i < answers.size(); ++i) {
      int matching = 0;
      for (size_t j = 0; j < answers.size(); ++j) matching += j != i && answers[j] == unique;
      sum += std::min(1.0, static_cast<double>(matching) / 3);
    }
    scores.emplace_back(unique, sum / static_cast<double>(answers.size()));
  }
  return scores;
}

double vqa_accuracy(std::string_view prediction, const std::vector<std::string>& raw_answers,
                    const std::string& what) {
  const std::string pred = evalai_process(prediction);
  for (const auto& [answer, score] : vqa_answer_scores(raw_answers, what))
    if (answer == pred) return score;
  return 0.0;
}

}  // namespace imp::eval
