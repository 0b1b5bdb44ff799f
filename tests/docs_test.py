"""The flag tables in the docs are the ones the config's metadata makes."""

import dataclasses
import os

import tensorflow as tf

from r_lstm import configs, flag_docs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGENERATE = ('python -c "from r_lstm import flag_docs; '
              'print(flag_docs.flags_markdown(), end=\'\')" > docs/FLAGS.md')


def read(name):
  with open(os.path.join(REPO, name), encoding='utf-8') as f:
    return f.read()


class FlagDocsTest(tf.test.TestCase):

  def test_flags_md_is_generated_from_the_config(self):
    self.assertEqual(read('docs/FLAGS.md'), flag_docs.flags_markdown(),
                     msg=f'docs/FLAGS.md is stale: {REGENERATE}')

  def test_readme_holds_the_sections_table(self):
    self.assertIn(flag_docs.sections_markdown(), read('README.md'),
                  msg='README.md: paste flag_docs.sections_markdown()')

  def test_every_field_has_a_section_and_help(self):
    for field in dataclasses.fields(configs.Config):
      self.assertIn(field.metadata['section'], configs.SECTIONS, field.name)
      self.assertTrue(field.metadata['help'].endswith('.'), field.name)
    for section in configs.SECTIONS:
      self.assertTrue(configs.section_fields(section), section)


if __name__ == '__main__':
  tf.test.main()
